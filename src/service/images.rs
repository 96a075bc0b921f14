//! Images at upload, run on a blocking thread (`spawn_blocking`), never on an actix worker:
//!
//! - metadata is removed losslessly (img-parts rewrites the container without touching the
//!   compressed pixels, so nothing is re-encoded and no quality is lost): in JPEG every APPn and
//!   comment segment but JFIF (APP0), the ICC profile (APP2) and Adobe's colour transform
//!   (APP14), which change how the pixels look, also those between a progressive JPEG's scans,
//!   and everything after the end-of-image marker (a phone's second picture (MPF) or motion-photo
//!   video, each with EXIF of its own; the MPF index that points to them goes too); in PNG the
//!   eXIf, text and time chunks; in WebP the EXIF and XMP chunks. GPS positions live in EXIF and
//!   XMP. GIF is left as it is: it has no EXIF, but a comment or an application extension could
//!   carry XMP, which nothing here removes. Only the EXIF orientation survives: a photo a
//!   phone stored sideways with a "rotate" flag gets a new EXIF block holding that one tag (not
//!   the original block with the rest blanked: what is not written cannot leak), so browsers
//!   show it upright at full size, as they do its thumbnail (rotated when it is made). Keeping
//!   the tag is lossless; rotating the pixels instead would mean re-encoding the photo;
//! - a thumbnail no larger than `attachments.thumbnail_max_px` on its longer side, decoded with
//!   the `image` crate (only the allowed formats compiled in) after the pixel limit was checked
//!   on the header, so a decompression bomb is refused before any decoding. The header is not the
//!   whole truth (a GIF's frame may be larger than the screen its header gives, a PNG may hold
//!   16 bits a channel), so the decoder may also allocate no more than the header's limit allows
//!   an 8-bit RGBA picture ([`Failure::TooLarge`]), and at most one image per core is decoded at
//!   once ([`decoding`]): what decoding takes stays bounded whatever the uploads claim;
//! - an avatar: the centred square of an upload, scaled and re-encoded ([`avatar`]), so that
//!   nothing of the upload's container is kept.

use std::io::Cursor;

/// The image types plauder reads: their size from the header, their metadata removed, a
/// thumbnail, an avatar (the decoders and header readers compiled in). Other image types an
/// operator allows (`attachments.allowed_types`) are stored and served as plain files.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

use image::metadata::Orientation;
use img_parts::jpeg::{JpegSegment, markers};
use img_parts::{DynImage, ImageEXIF};

/// Why an image was not made: it needs more memory to decode than its pixel limit allows, or it
/// cannot be decoded at all.
#[derive(Debug)]
pub enum Failure {
    TooLarge,
    Unreadable(String),
}

impl From<image::ImageError> for Failure {
    fn from(e: image::ImageError) -> Self {
        match e {
            image::ImageError::Limits(_) => Failure::TooLarge,
            other => Failure::Unreadable(other.to_string()),
        }
    }
}

impl Failure {
    /// As the contract's error: 413 for an image that needs more memory than its size allows,
    /// 422 for one that cannot be read (the decoder's reason is logged).
    pub fn into_api(self) -> crate::error::ApiError {
        match self {
            Failure::TooLarge => crate::error::ApiError::PayloadTooLarge(
                "The image needs more memory to decode than an image of the accepted size.".into(),
            ),
            Failure::Unreadable(e) => {
                tracing::info!(error = %e, "an uploaded image could not be decoded");
                crate::error::ApiError::validation("file", "The image could not be read.")
            }
        }
    }
}

/// A place among the images being decoded, at most one per core: decoding is CPU-bound, so more
/// at once would finish no sooner and only hold more memory.
///
/// # Errors
/// None in practice: the semaphore is never closed.
pub async fn decoding() -> Result<tokio::sync::SemaphorePermit<'static>, tokio::sync::AcquireError> {
    static DECODING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    });
    DECODING.acquire().await
}

/// The image, upright, decoded with at most `max_pixels` × 4 bytes (see the module's doc).
fn decode(data: &[u8], format: image::ImageFormat, max_pixels: u64) -> Result<image::DynamicImage, Failure> {
    let mut reader = image::ImageReader::with_format(Cursor::new(data), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(4));
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let orientation = image::ImageDecoder::orientation(&mut decoder)?;
    let mut img = image::DynamicImage::from_decoder(decoder)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// What [`strip_metadata`] leaves of an image.
pub struct Stripped {
    pub data: Vec<u8>,
    /// The EXIF orientation kept, if the image had one other than "upright".
    pub orientation: Option<Orientation>,
}

impl Stripped {
    /// Whether the orientation turns the image by a quarter, so that it shows `height` wide.
    pub fn is_turned(&self) -> bool {
        matches!(
            self.orientation,
            Some(
                Orientation::Rotate90
                    | Orientation::Rotate270
                    | Orientation::Rotate90FlipH
                    | Orientation::Rotate270FlipH
            )
        )
    }
}

/// An EXIF block (TIFF, big-endian) with nothing but the orientation tag: the header, the offset
/// of the first directory (8), one entry (tag 0x0112, type SHORT, count 1, the value padded to
/// four bytes), and no next directory. A dozen fixed bytes need no EXIF-writing crate.
fn orientation_exif(orientation: Orientation) -> Vec<u8> {
    let mut exif = Vec::with_capacity(26);
    exif.extend_from_slice(b"MM\0\x2a");
    exif.extend_from_slice(&8u32.to_be_bytes());
    exif.extend_from_slice(&1u16.to_be_bytes());
    exif.extend_from_slice(&0x0112u16.to_be_bytes());
    exif.extend_from_slice(&3u16.to_be_bytes());
    exif.extend_from_slice(&1u32.to_be_bytes());
    exif.extend_from_slice(&u16::from(orientation.to_exif()).to_be_bytes());
    exif.extend_from_slice(&[0, 0]);
    exif.extend_from_slice(&0u32.to_be_bytes());
    exif
}

/// The image with its metadata removed but for its orientation (see the module doc); other
/// bytes come back as they are.
///
/// # Errors
/// A JPEG, PNG or WebP whose container is corrupt or truncated.
pub fn strip_metadata(data: Vec<u8>) -> Result<Stripped, String> {
    let Some(mut image) = DynImage::from_bytes(data.into()).map_err(|e| e.to_string())? else {
        return Err("not a JPEG, PNG or WebP container".to_owned());
    };
    let orientation =
        image.exif().and_then(|exif| Orientation::from_exif_chunk(&exif)).filter(|o| *o != Orientation::NoTransforms);
    match &mut image {
        DynImage::Jpeg(jpeg) => {
            let segments = jpeg.segments_mut();
            segments.retain(kept_before_the_scans);
            // img-parts keeps all that follows the first scan's header, verbatim, as that
            // segment's entropy: the other scans, the end marker and whatever was appended.
            // The crate shows that part only encoded behind the segment's header.
            if let Some(sos) = segments.last_mut().filter(|s| s.has_entropy()) {
                let encoded = sos.clone().encoder().bytes();
                let rest = scans_only(encoded.get(sos.len()..).unwrap_or_default());
                *sos = JpegSegment::new_with_entropy(sos.marker(), sos.contents().clone(), rest.into());
            }
        }
        DynImage::Png(png) => {
            for kind in [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
                png.remove_chunks_by_type(kind);
            }
        }
        DynImage::WebP(webp) => {
            webp.set_exif(None);
            webp.remove_chunks_by_id(*b"XMP ");
        }
    }
    if let Some(orientation) = orientation {
        image.set_exif(Some(orientation_exif(orientation).into()));
    }
    let mut out = Vec::with_capacity(image.len());
    image.encoder().write_to(&mut out).map_err(|e| e.to_string())?;
    Ok(Stripped { data: out, orientation })
}

/// Whether a JPEG segment before the first scan stays: every one that is not an application
/// segment or a comment, and of those JFIF, the ICC profile and Adobe's colour transform.
fn kept_before_the_scans(segment: &JpegSegment) -> bool {
    match segment.marker() {
        markers::APP0 | markers::APP14 => true,
        markers::APP2 => segment.contents().starts_with(b"ICC_PROFILE\0"),
        marker => !is_app_or_comment(marker),
    }
}

fn is_app_or_comment(marker: u8) -> bool {
    matches!(marker, 0xE0..=0xEF | markers::COM)
}

/// What follows a JPEG's first scan header, up to and with its end-of-image marker, without the
/// application and comment segments between scans. Entropy-coded bytes hold 0xFF only as
/// `FF 00` (a stuffed byte) or a restart marker, so any other `FF xx` is a marker: a segment
/// with a length, or the end. Bytes cut short come back as they are (the thumbnail's decoding
/// judges them).
fn scans_only(rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() {
        let Some(&marker) = rest.get(i + 1).filter(|_| rest[i] == 0xFF) else {
            out.push(rest[i]);
            i += 1;
            continue;
        };
        match marker {
            // A fill byte before a marker.
            0xFF => {
                out.push(0xFF);
                i += 1;
            }
            0x00 | 0x01 | 0xD0..=0xD8 => {
                out.extend_from_slice(&rest[i..i + 2]);
                i += 2;
            }
            markers::EOI => {
                out.extend_from_slice(&rest[i..i + 2]);
                return out;
            }
            _ => {
                let Some(len) = rest.get(i + 2..i + 4).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
                    out.extend_from_slice(&rest[i..]);
                    return out;
                };
                let end = rest.len().min(i + 2 + len);
                if !is_app_or_comment(marker) {
                    out.extend_from_slice(&rest[i..end]);
                }
                i = end;
            }
        }
    }
    out
}

/// Whether [`strip_metadata`] applies to this type.
pub fn has_metadata_container(content_type: &str) -> bool {
    matches!(content_type, "image/jpeg" | "image/png" | "image/webp")
}

/// A thumbnail of the image, no side longer than `max_side`, with its media type: PNG where
/// the image has transparency, JPEG otherwise. `None` for an image already that small (its own
/// link serves as its thumbnail) and for types that are not images.
///
/// # Errors
/// An image that cannot be decoded, or not within `max_pixels` (see [`decode`]).
pub fn thumbnail(
    data: &[u8],
    content_type: &str,
    max_side: u32,
    max_pixels: u64,
) -> Result<Option<(Vec<u8>, &'static str)>, Failure> {
    let format = match content_type {
        "image/png" => image::ImageFormat::Png,
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/gif" => image::ImageFormat::Gif,
        "image/webp" => image::ImageFormat::WebP,
        _ => return Ok(None),
    };
    let img = decode(data, format, max_pixels)?;
    if img.width() <= max_side && img.height() <= max_side {
        return Ok(None);
    }
    let small = img.thumbnail(max_side, max_side);
    let mut out = Cursor::new(Vec::new());
    let kind = if small.color().has_alpha() {
        small.write_to(&mut out, image::ImageFormat::Png)?;
        "image/png"
    } else {
        image::DynamicImage::ImageRgb8(small.to_rgb8()).write_to(&mut out, image::ImageFormat::Jpeg)?;
        "image/jpeg"
    };
    Ok(Some((out.into_inner(), kind)))
}

/// An avatar made of an uploaded image: the largest centred square, scaled down to `side` pixels
/// (a smaller square keeps its size), re-encoded, with its media type: PNG where the image has
/// transparency, JPEG otherwise. Nothing of the upload's container survives (EXIF, GPS, XMP,
/// comments): only decoded pixels are encoded again. A JPEG's EXIF orientation is applied first,
/// so a photo taken upright shows upright.
///
/// # Errors
/// A type that is not an image, an image that cannot be decoded, or not within `max_pixels`.
pub fn avatar(data: &[u8], content_type: &str, side: u32, max_pixels: u64) -> Result<(Vec<u8>, &'static str), Failure> {
    let format = match content_type {
        "image/png" => image::ImageFormat::Png,
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/gif" => image::ImageFormat::Gif,
        "image/webp" => image::ImageFormat::WebP,
        other => return Err(Failure::Unreadable(format!("{other} is not an image"))),
    };
    let img = decode(data, format, max_pixels)?;
    let square = img.width().min(img.height());
    if square == 0 {
        return Err(Failure::Unreadable("the image is empty".to_owned()));
    }
    let cropped = img.crop_imm((img.width() - square) / 2, (img.height() - square) / 2, square, square);
    let target = side.min(square);
    let small = if target == square {
        cropped
    } else {
        cropped.resize_exact(target, target, image::imageops::FilterType::CatmullRom)
    };
    let mut out = Cursor::new(Vec::new());
    let kind = if small.color().has_alpha() {
        image::DynamicImage::ImageRgba8(small.to_rgba8()).write_to(&mut out, image::ImageFormat::Png)?;
        "image/png"
    } else {
        image::DynamicImage::ImageRgb8(small.to_rgb8()).write_to(&mut out, image::ImageFormat::Jpeg)?;
        "image/jpeg"
    };
    Ok((out.into_inner(), kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16×8 baseline JPEG from the `image` crate, as a camera would start one.
    fn jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_fn(16, 8, |x, y| image::Rgb([(x * 16) as u8, (y * 32) as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).expect("encode");
        out.into_inner()
    }

    /// `FF <marker>`, the length, and `body`.
    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&u16::try_from(body.len() + 2).expect("short").to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_jpeg_keeps_nothing_after_its_end_nor_in_vendor_segments_an_mpf_index_or_between_scans() {
        let plain = jpeg();
        let eoi = plain.len() - 2;
        assert_eq!(&plain[eoi..], &[0xFF, markers::EOI]);
        let mut marked = plain[..2].to_vec();
        marked.extend(segment(markers::APP2, b"ICC_PROFILE\0\x01\x01profile"));
        marked.extend(segment(markers::APP2, b"MPF\0secret-index"));
        marked.extend(segment(0xE3, b"secret-vendor"));
        marked.extend_from_slice(&plain[2..eoi]);
        // A comment after the last scan, then the end, then a second picture with its own EXIF.
        marked.extend(segment(markers::COM, b"secret-comment"));
        marked.extend_from_slice(&[0xFF, markers::EOI]);
        marked.extend_from_slice(&[0xFF, 0xD8]);
        marked.extend(segment(markers::APP1, b"Exif\0\0secret-gps"));
        marked.extend_from_slice(b"secret-video");

        let stripped = strip_metadata(marked).expect("strip").data;

        assert!(!contains(&stripped, b"secret"), "{:?}", String::from_utf8_lossy(&stripped));
        assert!(contains(&stripped, b"ICC_PROFILE"), "the colour profile stays");
        assert_eq!(&stripped[stripped.len() - 2..], &[0xFF, markers::EOI]);
        let decoded = image::load_from_memory_with_format(&stripped, image::ImageFormat::Jpeg).expect("still a JPEG");
        assert_eq!((decoded.width(), decoded.height()), (16, 8));
        // Stuffed bytes and the scan itself pass unchanged: without metadata, nothing changes.
        assert_eq!(strip_metadata(plain.clone()).expect("strip").data, plain);
    }
}
