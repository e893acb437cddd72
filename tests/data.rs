//! The data layer on fixture trees written into temp folders.
use image::{ImageBuffer, Luma, LumaA, Rgb, RgbImage, Rgba};
use pads::config::RunConfig;
use pads::options::DatasetKind;
use pads::data::layout::load_layout;
use pads::data::loader::{sequential_batches, spawn_loader, ImageStore};
use pads::data::sampler::ClassBalancedSampler;
use pads::data::transform::{load_rgb, Mode, Transform, IMAGENET_MEAN, IMAGENET_STD};
use pads::data::{split_train_val, synth, Item, Split};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn png(path: &Path, colour: [u8; 3], w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_pixel(w, h, Rgb(colour)).save(path).unwrap();
}

fn cfg(dataset: DatasetKind, root: &Path) -> RunConfig {
    RunConfig { dataset, data_root: root.to_path_buf(), ..RunConfig::default() }
}

fn class_tree(root: &Path, classes: &[&str], per_class: usize) {
    for (c, name) in classes.iter().enumerate() {
        for i in 0..per_class {
            // A gradient, so crops and flips change the pixels; pixel (0, 0) is [40c, i, 0].
            let path = root.join(name).join(format!("{i:03}.png"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            RgbImage::from_fn(12, 10, |x, y| Rgb([c as u8 * 40 + x as u8 * 3, i as u8, y as u8 * 5])).save(&path).unwrap();
        }
    }
}

#[test]
fn cub200_layout_sorts_by_number_and_splits_halves() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("cub200/images");
    // Deliberately out of lexical order: 10 must sort after 9.
    class_tree(&images, &["010.J", "001.A", "009.I", "002.B"], 3);
    std::fs::write(images.join("001.A/._debris.jpg"), b"mac").unwrap();
    let l = load_layout(&cfg(DatasetKind::Cub200, tmp.path())).unwrap();
    assert_eq!(l.train.classes, vec!["001.A", "002.B"]);
    assert_eq!(l.test.classes, vec!["009.I", "010.J"]);
    assert_eq!(l.train.len(), 6);
    assert_eq!(l.test.len(), 6);
    assert!(l.skipped.iter().any(|s| s.path.ends_with("._debris.jpg")));
    assert!(l.train.items.iter().all(|i| !i.path.to_string_lossy().contains("._")));
}

#[test]
fn cars196_layout_keeps_names_with_spaces() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("cars196/images");
    class_tree(&images, &["Acura Integra Type R 2001", "BMW M3 2012", "Audi TT 2011", "Volvo C30 2012"], 2);
    let l = load_layout(&cfg(DatasetKind::Cars196, tmp.path())).unwrap();
    assert_eq!(l.train.classes, vec!["Acura Integra Type R 2001", "Audi TT 2011"]);
    assert_eq!(l.test.classes, vec!["BMW M3 2012", "Volvo C30 2012"]);
}

fn sop_fixture(root: &Path) {
    let images = root.join("online_products/images");
    let info = root.join("online_products/Info_Files");
    std::fs::create_dir_all(&info).unwrap();
    let mut train = String::from("image_id class_id super_class_id path\n");
    let mut test = train.clone();
    for (id, (class, name)) in [(1, "bicycle_final/a_0.JPG"), (1, "bicycle_final/a_1.JPG"), (2, "chair_final/b_0.JPG"), (2, "chair_final/b_1.JPG")].iter().enumerate() {
        png(&images.join(name), [10, 20, 30], 8, 8);
        train.push_str(&format!("{} {} 1 {}\n", id + 1, class, name));
    }
    for (id, name) in ["kettle_final/c_0.JPG", "kettle_final/c_1.JPG", "kettle_final/c_2.JPG"].iter().enumerate() {
        png(&images.join(name), [1, 2, 3], 8, 8);
        test.push_str(&format!("{} 3 2 {}\n", id + 5, name));
    }
    std::fs::write(info.join("Ebay_train.txt"), train).unwrap();
    std::fs::write(info.join("Ebay_test.txt"), test).unwrap();
}

#[test]
fn sop_info_files_with_header_are_parsed() {
    let tmp = tempfile::tempdir().unwrap();
    sop_fixture(tmp.path());
    let l = load_layout(&cfg(DatasetKind::OnlineProducts, tmp.path())).unwrap();
    assert_eq!(l.train.classes, vec!["1", "2"]);
    assert_eq!(l.train.len(), 4);
    assert_eq!(l.test.classes, vec!["3"]);
    assert_eq!(l.test.len(), 3);
    assert!(l.train.items[0].path.ends_with("bicycle_final/a_0.JPG"));
}

#[test]
fn load_splits_take_validation_as_the_original_loaders() {
    use pads::options::Sampling;
    use pads::data::load_splits;
    let names = |s: &Split| -> Vec<String> { s.items.iter().map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned()).collect() };
    // CUB layout, per class: the evenly spaced positions round(linspace(0, 9, 8)) =
    // 0 1 3 4 5 6 8 9 train, 2 and 7 validate.
    let tmp = tempfile::tempdir().unwrap();
    class_tree(&tmp.path().join("cub200/images"), &["001.A", "002.B", "003.C", "004.D"], 10);
    let c = RunConfig { sampling: Sampling::Pads, train_val_split: 0.8, ..cfg(DatasetKind::Cub200, tmp.path()) };
    let s = load_splits(&c).unwrap();
    let val = s.val.unwrap();
    assert_eq!(names(&val), vec!["002.png", "007.png", "002.png", "007.png"]);
    assert_eq!(s.train.len(), 16);
    // Fixed samplers: no validation split, every training image trains (the original).
    let s = load_splits(&RunConfig { sampling: Sampling::Distance, ..c.clone() }).unwrap();
    assert!(s.val.is_none());
    assert_eq!(s.train.len(), 20);
    // --val-split-all-samplers holds it out for them too; --val-split-random draws it.
    let s = load_splits(&RunConfig { sampling: Sampling::Distance, val_split_all_samplers: true, ..c.clone() }).unwrap();
    assert_eq!(s.val.unwrap().len(), 4);
    let s = load_splits(&RunConfig { val_split_random: true, ..c.clone() }).unwrap();
    assert_eq!(s.val.as_ref().unwrap().len(), 4);
    // By class: the last classes validate.
    let s = load_splits(&RunConfig { train_val_split: 0.5, train_val_split_by_class: true, ..c }).unwrap();
    assert_eq!((s.train.classes.clone(), s.val.unwrap().classes), (vec!["001.A".to_string()], vec!["002.B".to_string()]));
    // SOP: always by class, as the original's SOP loader.
    let tmp = tempfile::tempdir().unwrap();
    sop_fixture(tmp.path());
    let c = RunConfig { sampling: Sampling::Pads, train_val_split: 0.5, bs: 2, samples_per_class: 1, ..cfg(DatasetKind::OnlineProducts, tmp.path()) };
    let s = load_splits(&c).unwrap();
    assert_eq!(s.train.classes, vec!["1"]);
    assert_eq!(s.val.unwrap().classes, vec!["2"]);
}

#[test]
fn sop_errors_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    sop_fixture(tmp.path());
    let info = tmp.path().join("online_products/Info_Files/Ebay_train.txt");
    let mut text = std::fs::read_to_string(&info).unwrap();
    text.push_str("9 notanumber 1 x.JPG\n");
    std::fs::write(&info, &text).unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::OnlineProducts, tmp.path())).err().unwrap());
    assert!(err.contains("Ebay_train.txt:6"), "{err}");
    assert!(err.contains("malformed"), "{err}");

    // A listed image that is absent.
    let text = text.replace("9 notanumber 1 x.JPG\n", "9 2 1 chair_final/missing.JPG\n");
    std::fs::write(&info, &text).unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::OnlineProducts, tmp.path())).err().unwrap());
    assert!(err.contains("missing.JPG") && err.contains("absent"), "{err}");
    // ...which --skip-bad-images turns into a recorded skip.
    let mut c = cfg(DatasetKind::OnlineProducts, tmp.path());
    c.skip_bad_images = true;
    let l = load_layout(&c).unwrap();
    assert_eq!(l.train.len(), 4);
    assert_eq!(l.skipped.len(), 1);

    std::fs::remove_file(&info).unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::OnlineProducts, tmp.path())).err().unwrap());
    assert!(err.contains("Ebay_train.txt") && err.contains("missing"), "{err}");
}

#[test]
fn missing_root_and_images_folder_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::Cub200, &tmp.path().join("nope"))).err().unwrap());
    assert!(err.contains("data root") && err.contains("nope"), "{err}");
    std::fs::create_dir_all(tmp.path().join("cub200")).unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::Cub200, tmp.path())).err().unwrap());
    assert!(err.contains("images/"), "{err}");
}

#[test]
fn bad_files_in_class_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("cub200/images");
    class_tree(&images, &["001.A", "002.B", "003.C", "004.D"], 2);
    // zero-byte image
    std::fs::write(images.join("001.A/empty.jpg"), b"").unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::Cub200, tmp.path())).err().unwrap());
    assert!(err.contains("empty.jpg") && err.contains("zero-byte"), "{err}");
    std::fs::remove_file(images.join("001.A/empty.jpg")).unwrap();
    // non-image file
    std::fs::write(images.join("002.B/notes.txt"), b"hello").unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::Cub200, tmp.path())).err().unwrap());
    assert!(err.contains("notes.txt") && err.contains("not an image"), "{err}");
    let mut c = cfg(DatasetKind::Cub200, tmp.path());
    c.skip_bad_images = true;
    assert_eq!(load_layout(&c).unwrap().skipped.len(), 1);
    std::fs::remove_file(images.join("002.B/notes.txt")).unwrap();
    // empty class folder
    std::fs::create_dir_all(images.join("005.E")).unwrap();
    std::fs::create_dir_all(images.join("006.F")).unwrap();
    class_tree(&images, &["006.F"], 1);
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::Cub200, tmp.path())).err().unwrap());
    assert!(err.contains("005.E") && err.contains("no images"), "{err}");
}

#[test]
fn corrupt_images_fail_with_the_file_name() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.png");
    png(&good, [1, 2, 3], 32, 32);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = tmp.path().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!("{:#}", load_rgb(&truncated).err().unwrap());
    assert!(err.contains("truncated.png"), "{err}");
    let jpg = tmp.path().join("cut.jpg");
    let img = RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 4) as u8, (y * 4) as u8, 7]));
    img.save(&jpg).unwrap();
    let bytes = std::fs::read(&jpg).unwrap();
    std::fs::write(&jpg, &bytes[..bytes.len() / 3]).unwrap();
    let err = format!("{:#}", load_rgb(&jpg).err().unwrap());
    assert!(err.contains("cut.jpg"), "{err}");
    let empty = tmp.path().join("zero.png");
    std::fs::write(&empty, b"").unwrap();
    assert!(format!("{:#}", load_rgb(&empty).err().unwrap()).contains("zero-byte"));
}

#[test]
fn odd_colour_formats_become_rgb() {
    let tmp = tempfile::tempdir().unwrap();
    let gray = tmp.path().join("gray.png");
    ImageBuffer::from_pixel(4, 4, Luma([200u8])).save(&gray).unwrap();
    assert_eq!(load_rgb(&gray).unwrap().get_pixel(1, 1).0, [200, 200, 200]);
    let gray_alpha = tmp.path().join("ga.png");
    ImageBuffer::from_pixel(4, 4, LumaA([90u8, 128])).save(&gray_alpha).unwrap();
    assert_eq!(load_rgb(&gray_alpha).unwrap().get_pixel(0, 0).0, [90, 90, 90]);
    let rgba = tmp.path().join("rgba.png");
    ImageBuffer::from_pixel(4, 4, Rgba([10u8, 20, 30, 0])).save(&rgba).unwrap();
    assert_eq!(load_rgb(&rgba).unwrap().get_pixel(2, 2).0, [10, 20, 30]);
    let deep = tmp.path().join("deep.png");
    ImageBuffer::from_pixel(4, 4, Rgb([65535u16, 0, 32896])).save(&deep).unwrap();
    assert_eq!(load_rgb(&deep).unwrap().get_pixel(0, 0).0, [255, 0, 128]);
    // An 8x8 CMYK JPEG (Adobe, inverted), pure red, written by Pillow.
    let cmyk = tmp.path().join("cmyk.jpg");
    std::fs::write(&cmyk, hex(CMYK_RED_JPEG)).unwrap();
    let px = load_rgb(&cmyk).unwrap().get_pixel(3, 3).0;
    assert!(px[0] > 200 && px[1] < 60 && px[2] < 60, "CMYK red decoded as {px:?}");
}

const CMYK_RED_JPEG: &str = "ffd8ffee000e41646f626500640000000000ffdb0043000201010101010201010102020202020403020202020504040304060506060605060606070908060709070606080b08090a0a0a0a0a06080b0c0b0a0c090a0a0affc000140800080008044311004d11005911004b1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000e0443004d0059004b00003f00fdfcafe7febf9ffafdfcafffd9";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn folder_layout_by_share_and_by_test_root() {
    let tmp = tempfile::tempdir().unwrap();
    class_tree(tmp.path(), &["a", "b", "c", "d"], 2);
    let mut c = cfg(DatasetKind::Folder, tmp.path());
    c.folder_test_share = 0.25;
    let l = load_layout(&c).unwrap();
    assert_eq!(l.train.classes, vec!["a", "b", "c"]);
    assert_eq!(l.test.classes, vec!["d"]);
    let test_root = tempfile::tempdir().unwrap();
    class_tree(test_root.path(), &["x", "y"], 3);
    c.test_root = Some(test_root.path().to_path_buf());
    let l = load_layout(&c).unwrap();
    assert_eq!(l.train.classes.len(), 4);
    assert_eq!(l.test.classes, vec!["x", "y"]);
    assert_eq!(l.test.len(), 6);
}

fn pool(classes: usize, per_class: usize) -> Split {
    let mut s = Split::default();
    for c in 0..classes {
        s.classes.push(format!("c{c}"));
        for i in 0..per_class {
            s.items.push(Item { path: PathBuf::from(format!("c{c}/{i}.png")), label: c });
        }
    }
    s
}

#[test]
fn validation_split_per_class_and_by_class() {
    let p = pool(10, 20);
    let (train, val) = split_train_val(&p, 0.85, false, 3).unwrap();
    let val = val.unwrap();
    assert_eq!(train.len(), 10 * 17);
    assert_eq!(val.len(), 10 * 3);
    assert_eq!(train.classes, val.classes);
    let t: HashSet<_> = train.items.iter().map(|i| i.path.clone()).collect();
    let v: HashSet<_> = val.items.iter().map(|i| i.path.clone()).collect();
    assert!(t.is_disjoint(&v));
    assert_eq!(t.len() + v.len(), 200);
    // Labels stay consistent with class names.
    for it in &train.items {
        assert!(it.path.starts_with(&train.classes[it.label]));
    }
    let (train, val) = split_train_val(&p, 0.7, true, 3).unwrap();
    let val = val.unwrap();
    assert_eq!(train.classes.len(), 7);
    assert_eq!(val.classes.len(), 3);
    let tc: HashSet<_> = train.classes.iter().collect();
    assert!(val.classes.iter().all(|c| !tc.contains(c)));
    for it in &val.items {
        assert!(it.path.starts_with(&val.classes[it.label]));
    }
    // Same seed, same split; another seed, another split.
    let (a, _) = split_train_val(&p, 0.7, true, 3).unwrap();
    let (b, _) = split_train_val(&p, 0.7, true, 4).unwrap();
    assert_eq!(a.classes, train.classes);
    assert_ne!(a.classes, b.classes);
    let (all, none) = split_train_val(&p, 1.0, false, 0).unwrap();
    assert!(none.is_none());
    assert_eq!(all.len(), 200);
}

#[test]
fn sampler_invariants() {
    let p = pool(12, 9);
    // --batch-without-replacement: distinct images in a group (the original repeats; see
    // tests/reference.rs for the default's statistics).
    let s = ClassBalancedSampler::with_options(&p, 24, 4, true).unwrap();
    assert_eq!(s.batches_per_epoch(), 108 / 24);
    let epoch = s.epoch(7, 0);
    assert_eq!(epoch.len(), 4);
    let mut classes_seq = Vec::new();
    for batch in &epoch {
        assert_eq!(batch.len(), 24);
        for group in batch.chunks(4) {
            let c = p.items[group[0]].label;
            assert!(group.iter().all(|&i| p.items[i].label == c), "a group mixes classes");
            let uniq: HashSet<_> = group.iter().collect();
            assert_eq!(uniq.len(), 4, "an image repeats inside its group");
            classes_seq.push(c);
        }
    }
    for w in classes_seq.windows(3) {
        assert!(w[2] != w[1] && w[2] != w[0], "class reused within two groups: {w:?}");
    }
    assert_eq!(s.epoch(7, 0), epoch);
    assert_ne!(s.epoch(7, 1), epoch);
    assert_ne!(s.epoch(8, 0), epoch);
    let small = pool(5, 3);
    let err = format!("{:#}", ClassBalancedSampler::with_options(&small, 8, 4, true).err().unwrap());
    assert!(err.contains("c0") && err.contains("fewer than --samples-per-class 4"), "{err}");
    // With replacement (the original), a class smaller than a group is fine.
    let s = ClassBalancedSampler::new(&small, 8, 4).unwrap();
    for batch in s.epoch(1, 0) {
        for group in batch.chunks(4) {
            assert!(group.iter().all(|&i| small.items[i].label == small.items[group[0]].label));
        }
    }
    let err = format!("{:#}", ClassBalancedSampler::new(&p, 10, 4).err().unwrap());
    assert!(err.contains("multiple"), "{err}");
}

#[test]
fn transforms_have_the_right_shape_and_range() {
    use rand::SeedableRng;
    let img = RgbImage::from_fn(50, 30, |x, y| Rgb([(x * 5) as u8, (y * 8) as u8, 128]));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for mode in [Mode::Train, Mode::Eval] {
        let out = Transform::new(24, mode).apply(&img, &mut rng);
        assert_eq!(out.len(), 3 * 24 * 24);
        for c in 0..3 {
            let lo = (0.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            let hi = (1.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            assert!(out[c * 576..(c + 1) * 576].iter().all(|&v| v >= lo - 1e-5 && v <= hi + 1e-5));
        }
    }
    // A flat image stays flat and normalises to (v/255 - mean)/std exactly.
    let flat = RgbImage::from_pixel(40, 60, Rgb([51, 102, 204]));
    let out = Transform::new(16, Mode::Eval).apply(&flat, &mut rng);
    for c in 0..3 {
        let want = ([51.0, 102.0, 204.0][c] / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        assert!(out[c * 256..(c + 1) * 256].iter().all(|v| (v - want).abs() < 1e-5));
    }
    // Evaluation is the centre crop: a left/right split image keeps its two halves.
    let halves = RgbImage::from_fn(64, 64, |x, _| if x < 32 { Rgb([0, 0, 0]) } else { Rgb([255, 255, 255]) });
    let out = Transform::new(32, Mode::Eval).apply(&halves, &mut rng);
    assert!(out[0] < 0.0 && out[31] > 0.0);
}

/// BN-Inception's input as the original's datasets.py makes it (ToTensor, Normalize with
/// mean [0.502, 0.4588, 0.4078] and std 0.0039, channels reversed), worked by hand on one
/// pixel (R, G, B) = (255, 0, 128).
#[test]
fn bninception_normalisation_is_the_originals_in_bgr_order() {
    use pads::data::transform::Normalization;
    use rand::SeedableRng;
    let norm = Normalization::for_arch(pads::options::Arch::Bninception);
    assert_eq!(norm, Normalization::BNINCEPTION);
    assert_eq!(Normalization::for_arch(pads::options::Arch::Resnet50), Normalization::IMAGENET);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let flat = RgbImage::from_pixel(20, 30, Rgb([255, 0, 128]));
    let out = Transform::new(8, Mode::Eval).with_normalization(norm).apply(&flat, &mut rng);
    // Plane 0 is blue: (128 / 255 - 0.4078) / 0.0039 = 0.0941608 / 0.0039; plane 1 green:
    // -0.4588 / 0.0039; plane 2 red: (1 - 0.502) / 0.0039 = 0.498 / 0.0039.
    let want = [24.143791, -117.641026, 127.692308];
    for (plane, w) in want.iter().enumerate() {
        assert!(out[plane * 64..(plane + 1) * 64].iter().all(|v| (v - w).abs() < 1e-3), "plane {plane}: {} vs {w}", out[plane * 64]);
    }
    // Training crops: the same crop and flip as in RGB order, the planes reversed.
    let img = RgbImage::from_fn(50, 30, |x, y| Rgb([(x * 5) as u8, (y * 8) as u8, ((x + y) * 3) as u8]));
    let rgb = Normalization { bgr: false, ..norm };
    let a = Transform::new(16, Mode::Train).with_normalization(norm).apply(&img, &mut rand_chacha::ChaCha8Rng::seed_from_u64(5));
    let b = Transform::new(16, Mode::Train).with_normalization(rgb).apply(&img, &mut rand_chacha::ChaCha8Rng::seed_from_u64(5));
    for plane in 0..3 {
        assert_eq!(a[plane * 256..(plane + 1) * 256], b[(2 - plane) * 256..(3 - plane) * 256], "plane {plane}");
    }
}

#[test]
fn loader_batches_do_not_depend_on_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    class_tree(tmp.path(), &["a", "b", "c"], 6);
    let mut split = Split::default();
    for (c, name) in ["a", "b", "c"].iter().enumerate() {
        split.classes.push(name.to_string());
        for i in 0..6 {
            split.items.push(Item { path: tmp.path().join(name).join(format!("{i:03}.png")), label: c });
        }
    }
    let store = Arc::new(ImageStore::new(split, false, false));
    let batches = vec![vec![0, 5, 7, 12], vec![3, 9, 17, 1]];
    let collect = |threads| -> Vec<Vec<f32>> {
        spawn_loader(store.clone(), batches.clone(), Transform::new(8, Mode::Train), 42, threads, 2)
            .map(|b| {
                let b = b.unwrap();
                assert_eq!(b.images.size(), vec![4, 3, 8, 8]);
                Vec::<f32>::try_from(b.images.flatten(0, -1)).unwrap()
            })
            .collect()
    };
    let one = collect(1);
    let two = collect(2);
    assert!(one == two, "1 and 2 threads gave different batches");
    let other_seed: Vec<Vec<f32>> = spawn_loader(store.clone(), batches.clone(), Transform::new(8, Mode::Train), 43, 2, 2)
        .map(|b| Vec::<f32>::try_from(b.unwrap().images.flatten(0, -1)).unwrap())
        .collect();
    assert!(one != other_seed, "the seed does not change the augmentation");
    assert_eq!(sequential_batches(10, 4), vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
}

#[test]
fn loader_replaces_bad_images_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    class_tree(tmp.path(), &["a"], 3);
    std::fs::write(tmp.path().join("a/001.png"), b"not a png at all").unwrap();
    let split = Split {
        classes: vec!["a".into()],
        items: (0..3).map(|i| Item { path: tmp.path().join(format!("a/{i:03}.png")), label: 0 }).collect(),
    };
    let strict = ImageStore::new(split.clone(), false, false);
    let err = format!("{:#}", strict.get(1).err().unwrap());
    assert!(err.contains("001.png") && err.contains("--skip-bad-images"), "{err}");
    let lenient = ImageStore::new(split, false, true);
    let img = lenient.get(1).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [0, 2, 0], "replaced by the next image of the class");
    assert_eq!(lenient.bad_images(), 1);
}

#[test]
fn synthetic_generator_is_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let opts = synth::SynthOptions { classes: 10, per_class: 3, image_size: 24, seed: 5 };
    assert_eq!(synth::generate(a.path(), &opts).unwrap(), 30);
    synth::generate(b.path(), &opts).unwrap();
    let dirs: Vec<_> = std::fs::read_dir(a.path().join("images")).unwrap().collect();
    assert_eq!(dirs.len(), 10);
    for c in 0..10 {
        for i in 0..3 {
            let rel = format!("images/{}/{i:04}.png", synth::class_name(c));
            assert_eq!(std::fs::read(a.path().join(&rel)).unwrap(), std::fs::read(b.path().join(&rel)).unwrap());
        }
    }
    let c = tempfile::tempdir().unwrap();
    synth::generate(c.path(), &synth::SynthOptions { seed: 6, ..opts.clone() }).unwrap();
    let rel = format!("images/{}/0000.png", synth::class_name(0));
    assert_ne!(std::fs::read(a.path().join(&rel)).unwrap(), std::fs::read(c.path().join(&rel)).unwrap());
    // The generated set reads through the real cub200-style loader.
    let root = tempfile::tempdir().unwrap();
    synth::ensure(root.path(), &opts).unwrap();
    let l = load_layout(&cfg(DatasetKind::Synthetic, root.path())).unwrap();
    assert_eq!(l.train.classes.len() + l.test.classes.len(), 10);
    assert_eq!(l.train.len(), 15);
}

#[test]
fn synthetic_species_of_a_family_look_alike() {
    // Families share the body plan: images of two species of one family differ less than
    // images of species from different families (mean absolute pixel difference).
    let opts = synth::SynthOptions { classes: 10, per_class: 20, image_size: 32, seed: 1 };
    let mean_img = |class: usize| -> Vec<f64> {
        let mut acc = vec![0.0; 32 * 32 * 3];
        for i in 0..opts.per_class {
            for (a, v) in acc.iter_mut().zip(synth::render(&opts, class, i).as_raw()) {
                *a += *v as f64 / opts.per_class as f64;
            }
        }
        acc
    };
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64;
    let m: Vec<Vec<f64>> = (0..10).map(mean_img).collect();
    let within = (dist(&m[0], &m[1]) + dist(&m[5], &m[6])) / 2.0;
    let across = (dist(&m[0], &m[5]) + dist(&m[1], &m[6])) / 2.0;
    assert!(within < across, "within-family {within} vs across {across}");
}

#[test]
fn resized_copy_keeps_the_layout_and_scales_only_large_images() {
    use pads::data::resize::{resize_tree, target_size, ResizeOptions};
    assert_eq!(target_size(500, 375, 256), Some((341, 256)));
    assert_eq!(target_size(375, 500, 256), Some((256, 341)));
    assert_eq!(target_size(300, 256, 256), None);
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    sop_fixture(&src);
    let images = src.join("online_products/images");
    // A horizontal gradient PNG (300 x 200) and a tall JPEG (120 x 400).
    RgbImage::from_fn(300, 200, |x, _| Rgb([(x * 255 / 299) as u8, 100, 50])).save(images.join("chair_final/big.png")).unwrap();
    RgbImage::from_pixel(120, 400, Rgb([200, 30, 90])).save(images.join("kettle_final/tall.jpg")).unwrap();
    std::fs::write(images.join("kettle_final/broken.jpg"), b"not a jpeg at all").unwrap();
    let opts = ResizeOptions { shorter_side: 100, ..ResizeOptions::default() };
    let r = resize_tree(&src, &dst, &opts).unwrap();
    assert_eq!(r.resized, 2, "{r:?}");
    assert_eq!(r.undecodable, vec![images.join("kettle_final/broken.jpg")]);
    assert_eq!(r.copied, 7 + 2 + 1, "7 small images, 2 info files, 1 broken image: {r:?}");
    let out_images = dst.join("online_products/images");
    let big = load_rgb(&out_images.join("chair_final/big.png")).unwrap();
    assert_eq!(big.dimensions(), (150, 100));
    // Content scaled, not just the size: the gradient runs left to right, other channels stay.
    let (left, right) = (big.get_pixel(2, 50), big.get_pixel(147, 50));
    assert!(left[0] < 10 && right[0] > 245 && left[1] == 100 && right[2] == 50, "{left:?} {right:?}");
    let tall = load_rgb(&out_images.join("kettle_final/tall.jpg")).unwrap();
    assert_eq!(tall.dimensions(), (100, 333));
    let px = tall.get_pixel(50, 160);
    assert!(px.0.iter().zip([200u8, 30, 90]).all(|(a, b)| (*a as i32 - b as i32).abs() <= 3), "{px:?}");
    for same in ["online_products/Info_Files/Ebay_train.txt", "online_products/images/bicycle_final/a_0.JPG", "online_products/images/kettle_final/broken.jpg"] {
        assert_eq!(std::fs::read(src.join(same)).unwrap(), std::fs::read(dst.join(same)).unwrap(), "{same} copied unchanged");
    }
    // The copy is a valid dataset with the same splits.
    let (a, b) = (load_layout(&cfg(DatasetKind::OnlineProducts, &src)).unwrap(), load_layout(&cfg(DatasetKind::OnlineProducts, &dst)).unwrap());
    assert_eq!((&a.train.classes, a.train.len(), a.test.len()), (&b.train.classes, b.train.len(), b.test.len()));
    // A re-run keeps what is there; a lost file is written again.
    std::fs::remove_file(out_images.join("chair_final/big.png")).unwrap();
    let r = resize_tree(&src, &dst, &opts).unwrap();
    assert_eq!((r.resized, r.copied, r.kept), (1, 0, 11), "{r:?}");
    assert_eq!(load_rgb(&out_images.join("chair_final/big.png")).unwrap().dimensions(), (150, 100));
    // Bad arguments name what is wrong.
    let err = resize_tree(&tmp.path().join("nope"), &dst, &opts).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("does not exist"), "{err}");
    let err = resize_tree(&src, &src.join("inside"), &opts).unwrap_err().to_string();
    assert!(err.contains("must not contain each other"), "{err}");
}

/// In-Shop fixture: train items id_01..id_03 (4 images each), test items id_11..id_13
/// (1 query + 2 gallery images each) and, with `lone`, id_14 with a query image only.
/// Returns the partition file's path.
fn in_shop_fixture(root: &Path, lone: bool) -> PathBuf {
    let dir = root.join("in_shop");
    let mut lines = Vec::new();
    for (n, item) in ["id_01", "id_02", "id_03"].iter().enumerate() {
        for j in 0..4 {
            let name = format!("img/WOMEN/Dresses/{item}/{j:02}_1_front.jpg");
            png(&dir.join(&name), [40 * n as u8, 10 * j, 100], 10, 12);
            lines.push(format!("{name} {item} train"));
        }
    }
    let mut test: Vec<(&str, &str)> = vec![("id_11", "query"), ("id_11", "gallery"), ("id_11", "gallery"), ("id_12", "gallery"), ("id_12", "query"), ("id_12", "gallery"), ("id_13", "gallery"), ("id_13", "gallery"), ("id_13", "query")];
    if lone {
        test.push(("id_14", "query"));
    }
    for (j, (item, status)) in test.iter().enumerate() {
        let name = format!("img/MEN/Denim/{item}/{j:02}_2_side.jpg");
        png(&dir.join(&name), [200, 5 * j as u8, 30], 12, 10);
        lines.push(format!("{name}     {item}   {status}"));
    }
    let file = dir.join("list_eval_partition.txt");
    std::fs::write(&file, format!("{}\nimage_name item_id evaluation_status\n{}\n", lines.len(), lines.join("\n"))).unwrap();
    file
}

#[test]
fn in_shop_layout_trains_on_train_items_and_tests_query_against_gallery() {
    let tmp = tempfile::tempdir().unwrap();
    in_shop_fixture(tmp.path(), false);
    let l = load_layout(&cfg(DatasetKind::InShop, tmp.path())).unwrap();
    assert_eq!(l.train.classes, vec!["id_01", "id_02", "id_03"]);
    assert_eq!(l.train.len(), 12);
    assert_eq!(l.test.classes, vec!["id_11", "id_12", "id_13"]);
    assert_eq!(l.test.len(), 9);
    let q = l.test_is_query.as_ref().unwrap();
    // Items by id, images in file order: id_11 q g g, id_12 g q g, id_13 g g q.
    assert_eq!(q, &vec![true, false, false, false, true, false, false, false, true]);
    assert_eq!(l.test.items.iter().map(|i| i.label).collect::<Vec<_>>(), vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
    assert!(l.test.items[0].path.ends_with("img/MEN/Denim/id_11/00_2_side.jpg"));
    // The partition file may also sit in Eval/, as in the download.
    let file = tmp.path().join("in_shop/list_eval_partition.txt");
    std::fs::create_dir_all(tmp.path().join("in_shop/Eval")).unwrap();
    std::fs::rename(&file, tmp.path().join("in_shop/Eval/list_eval_partition.txt")).unwrap();
    assert_eq!(load_layout(&cfg(DatasetKind::InShop, tmp.path())).unwrap().test.len(), 9);
    // data check: query and gallery rows; a query item without gallery images is a problem.
    let tmp2 = tempfile::tempdir().unwrap();
    in_shop_fixture(tmp2.path(), true);
    let mut c = cfg(DatasetKind::InShop, tmp2.path());
    c.bs = 4;
    c.samples_per_class = 2;
    c.train_val_split = 1.0;
    let report = pads::train::check::check(&c, true, &pads::progress::Progress::new(true)).unwrap();
    let row = |n: &str| report.splits.iter().find(|s| s.name == n).unwrap();
    assert_eq!((row("train").classes, row("train").images), (3, 12));
    assert_eq!((row("query").classes, row("query").images), (4, 4));
    assert_eq!((row("gallery").classes, row("gallery").images), (3, 6));
    // A warning, not a problem: training works, those queries are only left out of Recall@k.
    assert!(report.warnings.iter().any(|p| p.contains("1 query images belong to items without a gallery image")), "{:?}", report.warnings);
    assert!(report.to_text().contains("gallery"));
}

#[test]
fn in_shop_errors_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = in_shop_fixture(tmp.path(), false);
    let good = std::fs::read_to_string(&file).unwrap();
    let load = || format!("{:#}", load_layout(&cfg(DatasetKind::InShop, tmp.path())).err().unwrap());
    let lines: Vec<&str> = good.lines().collect();
    let with_line = |n: usize, new: &str| {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[n] = new.to_string();
        l.join("\n") + "\n"
    };
    // Malformed line (line 5 of the file: index 4).
    std::fs::write(&file, with_line(4, "img/WOMEN/Dresses/id_01/00_1_front.jpg id_01")).unwrap();
    let err = load();
    assert!(err.contains("list_eval_partition.txt:5") && err.contains("malformed"), "{err}");
    // Unknown status.
    std::fs::write(&file, with_line(4, "img/WOMEN/Dresses/id_01/02_1_front.jpg id_01 validation")).unwrap();
    let err = load();
    assert!(err.contains("list_eval_partition.txt:5") && err.contains("\"validation\"") && err.contains("train, query or gallery"), "{err}");
    // A listed image that is absent; --skip-bad-images records it.
    std::fs::write(&file, with_line(4, "img/WOMEN/Dresses/id_01/99_1_front.jpg id_01 train")).unwrap();
    let err = load();
    assert!(err.contains("99_1_front.jpg") && err.contains("absent") && err.contains("list_eval_partition.txt:5"), "{err}");
    let mut c = cfg(DatasetKind::InShop, tmp.path());
    c.skip_bad_images = true;
    let l = load_layout(&c).unwrap();
    assert_eq!((l.train.len(), l.skipped.len()), (11, 1));
    // An item on both sides of the train / test split.
    std::fs::write(&file, with_line(4, "img/WOMEN/Dresses/id_01/02_1_front.jpg id_11 train")).unwrap();
    let err = load();
    assert!(err.contains("id_11") && err.contains("other side"), "{err}");
    // Header, count and a missing file.
    std::fs::write(&file, with_line(1, "name item status")).unwrap();
    assert!(load().contains("list_eval_partition.txt:2"));
    std::fs::write(&file, with_line(0, "99")).unwrap();
    let err = load();
    assert!(err.contains("announces 99 images but 21 are listed"), "{err}");
    std::fs::write(&file, with_line(0, "many")).unwrap();
    assert!(load().contains("list_eval_partition.txt:1"));
    std::fs::remove_file(&file).unwrap();
    let err = load();
    assert!(err.contains("list_eval_partition.txt") && err.contains("missing"), "{err}");
}

#[test]
fn skipped_images_csv_reads_back_what_was_written() {
    use pads::data::scan::{read_records, write_records, SkipRecord};
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("skipped_images.csv");
    let records = vec![
        SkipRecord { split: "train".into(), path: "a/b, \"odd\" name.jpg".into(), reason: "truncated, \"bad\" file".into(), action: "replaced".into() },
        SkipRecord { split: "test".into(), path: "c/d.png".into(), reason: "not an image".into(), action: "dropped".into() },
    ];
    write_records(&file, &records).unwrap();
    let back = read_records(&file);
    assert_eq!(back.len(), 2);
    for (a, b) in records.iter().zip(&back) {
        assert_eq!((&a.split, &a.action, &a.path, &a.reason), (&b.split, &b.action, &b.path, &b.reason));
    }
    assert!(read_records(&tmp.path().join("missing.csv")).is_empty());
}

/// Every extension the layouts list as an image is decoded, as Pillow decodes it (the first
/// frame of a GIF, alpha dropped): .bmp, .gif, .tif/.tiff and .webp, not only .png and .jpg.
#[test]
fn every_listed_image_extension_decodes() {
    let tmp = tempfile::tempdir().unwrap();
    // Two colours, so the GIF palette holds them exactly.
    let img = RgbImage::from_fn(9, 7, |x, y| if (x + y) % 2 == 0 { Rgb([200, 30, 60]) } else { Rgb([10, 240, 120]) });
    for ext in ["bmp", "gif", "tif", "tiff", "webp", "png"] {
        let path = tmp.path().join(format!("a.{ext}"));
        img.save(&path).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert!(pads::data::is_image_name(&format!("a.{ext}")), "{ext} is listed");
        let back = load_rgb(&path).unwrap_or_else(|e| panic!("{ext}: {e:#}"));
        assert_eq!(back.dimensions(), (9, 7), "{ext}");
        assert_eq!(back.as_raw(), img.as_raw(), "{ext}: pixels differ");
    }
    // An RGBA WebP/PNG loses its alpha channel, as PIL's convert("RGB") does.
    let rgba = ImageBuffer::from_fn(3, 2, |x, _| Rgba([50 * x as u8, 7, 9, if x == 0 { 0 } else { 255 }]));
    let path = tmp.path().join("alpha.webp");
    rgba.save(&path).unwrap();
    let back = load_rgb(&path).unwrap();
    assert_eq!(back.get_pixel(0, 0), &Rgb([0, 7, 9]));
    assert_eq!(back.get_pixel(2, 1), &Rgb([100, 7, 9]));
}

/// A partition file saved with a UTF-8 byte-order mark (as Windows editors do) reads as the
/// same layout, as SOP's info files already did.
#[test]
fn in_shop_partition_file_with_a_byte_order_mark_reads_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let file = in_shop_fixture(tmp.path(), false);
    let plain = load_layout(&cfg(DatasetKind::InShop, tmp.path())).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("\u{feff}{text}")).unwrap();
    let bom = load_layout(&cfg(DatasetKind::InShop, tmp.path())).unwrap();
    assert_eq!((bom.train.items, bom.test.items, bom.test_is_query), (plain.train.items, plain.test.items, plain.test_is_query));
}

/// Symbolic links to class folders and to images are followed, as the original's
/// `os.listdir` + PIL do (they used to be dropped silently: a CUB tree with linked classes
/// lost them, a class with linked images lost those); a link to nothing is a named bad file;
/// a folder walk (`pads embed --images`) refuses a link loop, naming it.
#[cfg(unix)]
#[test]
fn symbolic_links_are_followed_and_loops_refused() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    synth::generate(&root.join("synthetic"), &synth::SynthOptions { classes: 6, per_class: 5, image_size: 16, seed: 0 }).unwrap();
    let plain = load_layout(&cfg(DatasetKind::Synthetic, &root)).unwrap();
    let images = root.join("synthetic/images");
    let mut classes: Vec<PathBuf> = std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().path()).collect();
    classes.sort();
    // Class 0 lives elsewhere, linked in; one image of class 1 too.
    let away = tmp.path().join("elsewhere");
    std::fs::create_dir(&away).unwrap();
    let moved = away.join(classes[0].file_name().unwrap());
    std::fs::rename(&classes[0], &moved).unwrap();
    symlink(&moved, &classes[0]).unwrap();
    let mut imgs: Vec<PathBuf> = std::fs::read_dir(&classes[1]).unwrap().map(|e| e.unwrap().path()).collect();
    imgs.sort();
    let moved_img = away.join("one.png");
    std::fs::rename(&imgs[0], &moved_img).unwrap();
    symlink(&moved_img, &imgs[0]).unwrap();
    let linked = load_layout(&cfg(DatasetKind::Synthetic, &root)).unwrap();
    assert_eq!((linked.train.classes.clone(), linked.train.items.clone()), (plain.train.classes.clone(), plain.train.items.clone()));
    assert_eq!(linked.test.items, plain.test.items);
    // A link to nothing: refused by name, or with --skip-bad-images skipped and recorded.
    std::fs::remove_file(&moved_img).unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::Synthetic, &root)).err().unwrap());
    assert!(err.contains(imgs[0].to_str().unwrap()) && err.contains("symbolic link whose target does not exist"), "{err}");
    let skipping = load_layout(&RunConfig { skip_bad_images: true, ..cfg(DatasetKind::Synthetic, &root) }).unwrap();
    assert_eq!(skipping.train.len(), plain.train.len() - 1);
    assert!(skipping.skipped.iter().any(|s| s.path == imgs[0]));
    // A walk over a tree that links back to its own top is refused, naming the link.
    let walk = tmp.path().join("walk");
    std::fs::create_dir_all(walk.join("a")).unwrap();
    std::fs::copy(&plain.train.items[0].path, walk.join("a/x.png")).unwrap();
    symlink(&walk, walk.join("a/up")).unwrap();
    let err = format!("{:#}", pads::inference::embed::images_in_dir(&walk).err().unwrap());
    assert!(err.contains("a/up") && err.contains("symbolic link loop"), "{err}");
    std::fs::remove_file(walk.join("a/up")).unwrap();
    assert_eq!(pads::inference::embed::images_in_dir(&walk).unwrap().images.len(), 1);
}

/// A data root holding the dataset under its download name (`CUB_200_2011`), or that is the
/// dataset folder itself, gets a hint naming the folder pads reads (it used to say only that
/// cub200 does not exist).
#[test]
fn a_download_named_dataset_folder_gets_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("CUB_200_2011/images")).unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::Cub200, tmp.path())).err().unwrap());
    assert!(err.contains("holds CUB_200_2011/") && err.contains("pads reads as cub200/") && err.contains("ln -s CUB_200_2011"), "{err}");
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::Cub200, &tmp.path().join("CUB_200_2011"))).err().unwrap());
    assert!(err.contains("looks like the cub200 folder itself") && err.contains("--data-root"), "{err}");
    std::fs::create_dir_all(tmp.path().join("Stanford_Online_Products")).unwrap();
    let err = format!("{:#}", load_layout(&cfg(DatasetKind::OnlineProducts, tmp.path())).err().unwrap());
    assert!(err.contains("holds Stanford_Online_Products/") && err.contains("online_products/"), "{err}");
}

#[test]
fn every_layout_problem_is_listed_at_once() {
    // A CUB tree: two empty class folders and a zero-byte image in a third.
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("cub200/images");
    for c in ["001.A", "002.B", "003.C", "004.D"] {
        std::fs::create_dir_all(images.join(c)).unwrap();
    }
    for c in ["001.A", "002.B"] {
        std::fs::write(images.join(c).join("x.png"), b"not empty").unwrap();
    }
    std::fs::write(images.join("002.B").join("empty.png"), b"").unwrap();
    let cfg = RunConfig { dataset: DatasetKind::Cub200, data_root: tmp.path().to_path_buf(), ..RunConfig::default() };
    let err = format!("{:#}", load_layout(&cfg).err().unwrap());
    assert!(err.contains("3 problems in the layout"), "{err}");
    assert!(err.contains("003.C holds no images") && err.contains("004.D holds no images") && err.contains("empty.png: zero-byte file"), "{err}");
    // SOP: every malformed line of the info file, with its line number.
    let tmp = tempfile::tempdir().unwrap();
    sop_fixture(tmp.path());
    let info = tmp.path().join("online_products/Info_Files/Ebay_train.txt");
    let mut text = std::fs::read_to_string(&info).unwrap();
    text.push_str("not a line\n7 x 1 a.jpg\n");
    std::fs::write(&info, text).unwrap();
    let err = format!("{:#}", load_layout(&cfg_sop(tmp.path())).err().unwrap());
    assert!(err.contains("2 problems in the layout") && err.contains("malformed line \"not a line\"") && err.contains("malformed line \"7 x 1 a.jpg\""), "{err}");
}

fn cfg_sop(root: &std::path::Path) -> RunConfig {
    RunConfig { dataset: DatasetKind::OnlineProducts, data_root: root.to_path_buf(), ..RunConfig::default() }
}
