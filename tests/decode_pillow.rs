//! 16-bit PNGs decode to PIL's 8-bit RGB (`Image.open(f).convert('RGB')`), computed by the
//! venv's Pillow at test time.
mod common;
use image::{ImageBuffer, Luma, LumaA, Rgb, Rgba};
use std::process::Command;

#[test]
fn sixteen_bit_pngs_give_pils_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (7u32, 5u32);
    let v = |x: u32, y: u32, c: u32| ((x * 9001 + y * 3907 + c * 12345) % 65536) as u16;
    ImageBuffer::from_fn(w, h, |x, y| Luma([v(x, y, 0) / 50])).save(dir.path().join("l16.png")).unwrap();
    ImageBuffer::from_fn(w, h, |x, y| LumaA([v(x, y, 0), v(x, y, 1)])).save(dir.path().join("la16.png")).unwrap();
    ImageBuffer::from_fn(w, h, |x, y| Rgb([v(x, y, 0), v(x, y, 1), v(x, y, 2)])).save(dir.path().join("rgb16.png")).unwrap();
    ImageBuffer::from_fn(w, h, |x, y| Rgba([v(x, y, 0), v(x, y, 1), v(x, y, 2), v(x, y, 3)])).save(dir.path().join("rgba16.png")).unwrap();
    for name in ["l16", "la16", "rgb16", "rgba16"] {
        let png = dir.path().join(format!("{name}.png"));
        let raw = dir.path().join(format!("{name}.raw"));
        let o = Command::new(common::python())
            .args(["-c", "import sys; from PIL import Image; open(sys.argv[2], 'wb').write(Image.open(sys.argv[1]).convert('RGB').tobytes())", png.to_str().unwrap(), raw.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let pil = std::fs::read(&raw).unwrap();
        let mine = pads::data::transform::load_rgb(&png).unwrap();
        assert_eq!(mine.as_raw(), &pil, "{name}: pads' pixels differ from PIL's convert('RGB')");
    }
}
