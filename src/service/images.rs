//! Images at upload, run on a blocking thread (`spawn_blocking`), never on an actix worker:
//!
//! - metadata is removed losslessly (img-parts rewrites the container without touching the
//!   compressed pixels, so nothing is re-encoded and no quality is lost): in JPEG the APP1
//!   (EXIF, XMP), APP13 (IPTC) and comment segments, keeping JFIF, the ICC profile (APP2) and
//!   Adobe's colour transform (APP14), which change how the pixels look; in PNG the eXIf, text
//!   and time chunks; in WebP the EXIF and XMP chunks. GPS positions live in EXIF and XMP. GIF
//!   carries none of them and is left as it is. The price: a JPEG's EXIF orientation goes too,
//!   so a photo stored sideways with a rotate flag shows sideways (its thumbnail is rotated);
//! - a thumbnail no larger than `attachments.thumbnail_max_px` on its longer side, decoded with
//!   the `image` crate (only the allowed formats compiled in) after the pixel limit was checked
//!   on the header, so a decompression bomb is refused before any decoding;
//! - an avatar: the centred square of an upload, scaled and re-encoded ([`avatar`]), so that
//!   nothing of the upload's container is kept.

use std::io::Cursor;

use img_parts::jpeg::markers;
use img_parts::{DynImage, ImageEXIF};

/// The image with its metadata removed (see the module doc); other bytes come back as they are.
///
/// # Errors
/// A JPEG, PNG or WebP whose container is corrupt or truncated.
pub fn strip_metadata(data: Vec<u8>) -> Result<Vec<u8>, String> {
    let Some(mut image) = DynImage::from_bytes(data.into()).map_err(|e| e.to_string())? else {
        return Err("not a JPEG, PNG or WebP container".to_owned());
    };
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
    let mut out = Vec::with_capacity(image.len());
    image.encoder().write_to(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
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
