//! Presence statuses: the one a connection sets (`presence.set`) and the one others see, and the
//! rule that adds a user's connections up (invisible hides everything; otherwise dnd over online
//! over away). The cluster presence script in `realtime/cluster.rs` applies the same rule inside
//! Redis, in Lua; its test checks it against [`shown`].

use serde::{Deserialize, Serialize};

/// What a connection sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::EnumString, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Status {
    Online,
    Away,
    Dnd,
    Invisible,
}

impl Status {
    /// Which of a user's connection statuses wins: invisible over dnd over online over away.
    fn rank(self) -> u8 {
        match self {
            Status::Away => 1,
            Status::Online => 2,
            Status::Dnd => 3,
            Status::Invisible => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What others see.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumString, strum::IntoStaticStr, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Visible {
    Online,
    Away,
    Dnd,
    Offline,
}

impl Visible {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The status a user's connections add up to, invisible kept as such (the cluster adds it up
/// with the other instances'); None without connections.
pub fn combined<'a>(statuses: impl IntoIterator<Item = &'a Status>) -> Option<Status> {
    statuses.into_iter().copied().max_by_key(|s| s.rank())
}

/// What others see of a combined status.
pub fn shown(combined: Option<Status>) -> Visible {
    match combined {
        None | Some(Status::Invisible) => Visible::Offline,
        Some(Status::Online) => Visible::Online,
        Some(Status::Away) => Visible::Away,
        Some(Status::Dnd) => Visible::Dnd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_add_up_dnd_over_online_over_away_and_invisible_hides() {
        use Status::*;
        let seen = |s: &[Status]| shown(combined(s));
        assert_eq!(seen(&[Away, Online]), Visible::Online);
        assert_eq!(seen(&[Online, Dnd, Away]), Visible::Dnd);
        assert_eq!(seen(&[Away]), Visible::Away);
        assert_eq!(seen(&[Online, Invisible]), Visible::Offline);
        assert_eq!(seen(&[]), Visible::Offline);
    }

    #[test]
    fn the_combined_status_keeps_invisible_for_the_cluster_to_apply() {
        use Status::*;
        assert_eq!(combined(&[Away, Online]), Some(Online));
        assert_eq!(combined(&[Online, Invisible, Dnd]), Some(Invisible));
        assert_eq!(combined(&[]), None);
    }

    #[test]
    fn statuses_read_and_write_their_wire_names() {
        assert_eq!("dnd".parse::<Status>().ok(), Some(Status::Dnd));
        assert!("busy".parse::<Status>().is_err());
        assert_eq!(Visible::Offline.as_str(), "offline");
        assert_eq!(serde_json::to_string(&Visible::Away).ok().as_deref(), Some("\"away\""));
    }
}
