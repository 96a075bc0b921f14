//! Layered configuration: the shipped files parse, and bad files are refused with the key named.

use std::path::Path;

use plauder::config::{LogFormat, Settings};

fn write_config(default_toml: &str) -> tempdir::Dir {
    let dir = tempdir::Dir::new();
    std::fs::write(dir.path().join("default.toml"), default_toml).unwrap();
    dir
}

mod tempdir {
    /// A directory removed on drop (no dev-dependency needed for this one use).
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!("plauder-cfg-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn shipped() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
}

#[test]
fn every_shipped_environment_parses() {
    for env in ["development", "test", "production"] {
        let s = Settings::load_unchecked(shipped(), env).unwrap_or_else(|e| panic!("{env}: {e}"));
        assert!(s.server.max_json_body_bytes >= 1024);
    }
    let prod = Settings::load_unchecked(shipped(), "production").unwrap();
    assert_eq!(prod.log.format, LogFormat::Json);
    assert!(!prod.server.trusted_proxies.is_empty());
    // The image's user cannot write its working directory's parent: a relative directory would
    // stop the start (scripts/check-deploy.sh checks it is the image's data directory).
    assert!(Path::new(&prod.attachments.directory).is_absolute(), "{}", prod.attachments.directory);
}

#[test]
fn an_unknown_key_in_a_file_is_refused_by_name() {
    let default = std::fs::read_to_string(shipped().join("default.toml")).unwrap();
    let dir = write_config(&default.replace("[server]\n", "[server]\naccept_queue = 5\n"));
    let err = Settings::load_unchecked(dir.path(), "none").unwrap_err();
    assert!(err.contains("accept_queue"), "{err}");
}

#[test]
fn a_missing_default_file_is_refused() {
    let dir = tempdir::Dir::new();
    assert!(Settings::load_unchecked(dir.path(), "none").is_err());
}

#[test]
fn validation_names_the_key_and_its_variable() {
    let mut s = Settings::load_unchecked(shipped(), "test").unwrap();
    s.database.url = "postgres://localhost/x".to_owned().into();
    s.auth.jwt_secret = "short".to_owned().into();
    let err = s.validate().unwrap_err();
    assert!(err.contains("auth.jwt_secret") && err.contains("PLAUDER__AUTH__JWT_SECRET"), "{err}");
    s.auth.jwt_secret = "x".repeat(32).into();
    assert!(s.validate().is_ok());
    s.database.pool_max_size = 0;
    assert!(s.validate().unwrap_err().contains("database.pool_max_size"));
}

#[test]
fn a_statement_timeout_must_be_one_postgresql_takes_and_not_none() {
    let valid = || {
        let mut s = Settings::load_unchecked(shipped(), "test").unwrap();
        s.database.url = "postgres://localhost/x".to_owned().into();
        s.auth.jwt_secret = "x".repeat(32).into();
        s
    };
    assert!(valid().validate().is_ok());
    for bad in [0, 1 << 31] {
        let mut s = valid();
        s.database.erase_statement_timeout_ms = bad;
        assert!(s.validate().unwrap_err().contains("database.erase_statement_timeout_ms"), "{bad}");
        let mut s = valid();
        s.database.statement_timeout_ms = bad;
        assert!(s.validate().unwrap_err().contains("database.statement_timeout_ms"), "{bad}");
    }
    let mut s = valid();
    s.database.search_statement_timeout_ms = i32::MAX as u64;
    assert!(s.validate().is_ok(), "PostgreSQL's own bound is allowed");
}

#[test]
fn a_list_of_redis_nodes_needs_redis_cluster_and_a_cluster_prefix_no_braces() {
    let mut s = Settings::load_unchecked(shipped(), "test").unwrap();
    s.database.url = "postgres://localhost/x".to_owned().into();
    s.auth.jwt_secret = "x".repeat(32).into();
    s.redis.url = "redis://127.0.0.1:7000,redis://127.0.0.1:7001".to_owned().into();
    let err = s.validate().unwrap_err();
    assert!(err.contains("redis.url") && err.contains("redis.cluster"), "{err}");
    s.redis.cluster = true;
    assert!(s.validate().is_ok());
    s.redis.channel_prefix = "a{b}".to_owned();
    assert!(s.validate().unwrap_err().contains("redis.channel_prefix"));
}
