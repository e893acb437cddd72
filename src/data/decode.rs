//! Decoding image files to 8-bit RGB, as PIL's `Image.open(path).convert("RGB")` does for
//! the original's loader. Colour JPEGs (YCbCr or RGB, the photos of every benchmark) go
//! straight through zune-jpeg into the image's own buffer; every other file (PNG, grayscale,
//! CMYK JPEGs, BMP, ...) through the `image` crate, then converted to RGB.
use anyhow::{Context, Result};
use image::RgbImage;
use std::path::Path;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

/// Decodes any supported image to 8-bit RGB (grayscale, alpha, 16-bit and CMYK converted).
/// Errors name the file: unreadable, empty, truncated (a JPEG without its end marker, a PNG
/// without IEND, as PIL refuses them) or not decodable.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read image file", path.display()))?;
    decode_rgb(&bytes).with_context(|| path.display().to_string())
}

/// [`load_rgb`] on bytes already read (errors without the file name).
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage> {
    if bytes.is_empty() {
        anyhow::bail!("zero-byte file, expected image data");
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().context("cannot read image header")?;
    // The decoders fill a cut-off file with grey and succeed; PIL refuses it ("image file is
    // truncated"). So does pads: a JPEG or PNG must reach its end marker.
    match reader.format() {
        Some(image::ImageFormat::Jpeg) if !jpeg_is_complete(bytes) => {
            anyhow::bail!("truncated JPEG: no end-of-image marker (FF D9) after the last scan; the file was cut short")
        }
        Some(image::ImageFormat::Png) if !png_is_complete(bytes) => anyhow::bail!("truncated PNG: no IEND chunk; the file was cut short"),
        Some(image::ImageFormat::Jpeg) => {
            if let Some(img) = colour_jpeg(bytes) {
                return Ok(img);
            }
        }
        _ => {}
    }
    let img = reader.decode().context("not a decodable image (truncated or corrupt?)")?;
    if img.width() == 0 || img.height() == 0 {
        anyhow::bail!("image has zero size");
    }
    Ok(rgb8_as_pillow(img))
}

/// 8-bit RGB as PIL's `Image.open(..).convert('RGB')` makes it: 16-bit grayscale (PIL's
/// mode I;16) is clipped to 255, not scaled; 16-bit RGB, RGBA and LA keep their high byte
/// (PIL's `;16B` raw modes); alpha is dropped, not composited; everything else as the
/// `image` crate converts it (which equals PIL for 8-bit data).
fn rgb8_as_pillow(img: image::DynamicImage) -> RgbImage {
    use image::DynamicImage as D;
    let (w, h) = (img.width(), img.height());
    let from = |pixels: Vec<u8>| RgbImage::from_raw(w, h, pixels);
    let converted = match &img {
        D::ImageLuma16(b) => from(b.as_raw().iter().flat_map(|&v| [v.min(255) as u8; 3]).collect()),
        D::ImageLumaA16(b) => from(b.as_raw().chunks_exact(2).flat_map(|p| [(p[0] >> 8) as u8; 3]).collect()),
        D::ImageRgb16(b) => from(b.as_raw().iter().map(|&v| (v >> 8) as u8).collect()),
        D::ImageRgba16(b) => from(b.as_raw().chunks_exact(4).flat_map(|p| [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8]).collect()),
        _ => None,
    };
    converted.unwrap_or_else(|| img.into_rgb8())
}

/// A YCbCr or RGB JPEG decoded by zune-jpeg straight into an RGB buffer (the options the
/// `image` crate uses: not strict, no size limit). None for other JPEGs and for any failure,
/// which then go the `image` crate's way (and get its error message).
fn colour_jpeg(bytes: &[u8]) -> Option<RgbImage> {
    let options = DecoderOptions::default().set_strict_mode(false).set_max_width(usize::MAX).set_max_height(usize::MAX);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    dec.decode_headers().ok()?;
    if !matches!(dec.input_colorspace()?, ColorSpace::YCbCr | ColorSpace::RGB) {
        return None;
    }
    dec.set_options(dec.options().jpeg_set_out_colorspace(ColorSpace::RGB));
    let (w, h) = dec.dimensions()?;
    if w == 0 || h == 0 {
        return None;
    }
    let mut buf = vec![0u8; dec.output_buffer_size()?];
    dec.decode_into(&mut buf).ok()?;
    buf.truncate(w * h * 3);
    RgbImage::from_raw(w as u32, h as u32, buf)
}

/// A JPEG whose last start-of-scan marker (FF DA) is followed by an end-of-image marker
/// (FF D9). Inside entropy-coded data 0xFF is always stuffed (FF 00) or a restart marker, so
/// neither marker can appear there; an EXIF thumbnail's own FF D9 lies before the main
/// image's scans. Bytes after FF D9 (camera trailers) are allowed.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(at) => bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// A PNG that holds its IEND chunk (type bytes `IEND` after the last IDAT).
pub fn png_is_complete(bytes: &[u8]) -> bool {
    let last_idat = bytes.windows(4).rposition(|w| w == b"IDAT").unwrap_or(0);
    bytes[last_idat..].windows(4).any(|w| w == b"IEND")
}
