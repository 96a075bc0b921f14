//! Images at upload, run on a blocking thread (`spawn_blocking`), never on an actix worker:
//!
//! - metadata is removed losslessly (img-parts rewrites the container without touching the
//!   compressed pixels, so nothing is re-encoded and no quality is lost): in JPEG the APP1
//!   (EXIF, XMP), APP13 (IPTC) and comment segments, keeping JFIF, the ICC profile (APP2) and
//!   Adobe's colour transform (APP14), which change how the pixels look; in PNG the eXIf, text
//!   and time chunks; in WebP the EXIF and XMP chunks. GPS positions live in EXIF and XMP. GIF
//!   carries none of them and is left as it is. Only the EXIF orientation survives: a photo a
//!   phone stored sideways with a "rotate" flag gets a new EXIF block holding that one tag (not
//!   the original block with the rest blanked: what is not written cannot leak), so browsers
//!   show it upright at full size, as they do its thumbnail (rotated when it is made). Keeping
//!   the tag is lossless; rotating the pixels instead would mean re-encoding the photo;
//! - a thumbnail no larger than `attachments.thumbnail_max_px` on its longer side, decoded with
//!   the `image` crate (only the allowed formats compiled in) after the pixel limit was checked
//!   on the header, so a decompression bomb is refused before any decoding;
//! - an avatar: the centred square of an upload, scaled and re-encoded ([`avatar`]), so that
//!   nothing of the upload's container is kept.

use std::io::Cursor;

use image::metadata::Orientation;
use img_parts::jpeg::markers;
use img_parts::{DynImage, ImageEXIF};

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
            jpeg.segments_mut().retain(|s| !matches!(s.marker(), markers::APP1 | markers::APP13 | markers::COM));
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

/// Whether [`strip_metadata`] applies to this type.
pub fn has_metadata_container(content_type: &str) -> bool {
    matches!(content_type, "image/jpeg" | "image/png" | "image/webp")
}

/// A thumbnail of the image, no side longer than `max_side`, with its media type: PNG where
/// the image has transparency, JPEG otherwise. `None` for an image already that small (its own
/// link serves as its thumbnail) and for types that are not images.
///
/// # Errors
/// An image that cannot be decoded.
pub fn thumbnail(data: &[u8], content_type: &str, max_side: u32) -> Result<Option<(Vec<u8>, &'static str)>, String> {
    let format = match content_type {
        "image/png" => image::ImageFormat::Png,
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/gif" => image::ImageFormat::Gif,
        "image/webp" => image::ImageFormat::WebP,
        _ => return Ok(None),
    };
    let mut decoder =
        image::ImageReader::with_format(Cursor::new(data), format).into_decoder().map_err(|e| e.to_string())?;
    let orientation = image::ImageDecoder::orientation(&mut decoder).map_err(|e| e.to_string())?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    img.apply_orientation(orientation);
    if img.width() <= max_side && img.height() <= max_side {
        return Ok(None);
    }
    let small = img.thumbnail(max_side, max_side);
    let mut out = Cursor::new(Vec::new());
    let kind = if small.color().has_alpha() {
        small.write_to(&mut out, image::ImageFormat::Png).map_err(|e| e.to_string())?;
        "image/png"
    } else {
        image::DynamicImage::ImageRgb8(small.to_rgb8())
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .map_err(|e| e.to_string())?;
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
/// A type that is not an image, or an image that cannot be decoded.
pub fn avatar(data: &[u8], content_type: &str, side: u32) -> Result<(Vec<u8>, &'static str), String> {
    let format = match content_type {
        "image/png" => image::ImageFormat::Png,
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/gif" => image::ImageFormat::Gif,
        "image/webp" => image::ImageFormat::WebP,
        other => return Err(format!("{other} is not an image")),
    };
    let mut decoder =
        image::ImageReader::with_format(Cursor::new(data), format).into_decoder().map_err(|e| e.to_string())?;
    let orientation = image::ImageDecoder::orientation(&mut decoder).map_err(|e| e.to_string())?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    img.apply_orientation(orientation);
    let square = img.width().min(img.height());
    if square == 0 {
        return Err("the image is empty".to_owned());
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
        image::DynamicImage::ImageRgba8(small.to_rgba8())
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
        "image/png"
    } else {
        image::DynamicImage::ImageRgb8(small.to_rgb8())
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .map_err(|e| e.to_string())?;
        "image/jpeg"
    };
    Ok((out.into_inner(), kind))
}
