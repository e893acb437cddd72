//! Dataset layouts (../shared/docs/datasets.md): each reader turns a folder into the
//! class-disjoint train pool and test split, and records what it skipped and why.
use super::{is_image_name, Item, Skipped, Split};
use super::folders::check_dataset_folder;
pub use super::folders::{did_you_mean, other_layouts, DATASET_FOLDERS};
use super::DataOptions;
use crate::options::DatasetKind;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Train pool (before the validation split) and test split, class-disjoint.
pub struct Layout {
    pub train: Split,
    pub test: Split,
    pub skipped: Vec<Skipped>,
    /// For query/gallery benchmarks (in_shop): per test item, query (true) or gallery.
    pub test_is_query: Option<Vec<bool>>,
}

pub fn load_layout(opts: impl Into<DataOptions>) -> Result<Layout> {
    let cfg: &DataOptions = &opts.into();
    let root = &cfg.data_root;
    if !root.is_dir() {
        bail!("data root {} does not exist or is not a folder", root.display());
    }
    check_dataset_folder(root, cfg.dataset)?;
    let mut skipped = Vec::new();
    let skip = cfg.skip_bad_images;
    if cfg.dataset == DatasetKind::InShop {
        let (train, test, is_query) = in_shop_layout(&root.join("in_shop"), skip, &mut skipped)?;
        return Ok(Layout { train, test, skipped, test_is_query: Some(is_query) });
    }
    let (train, test) = match cfg.dataset {
        DatasetKind::Cub200 => numbered_layout(&root.join("cub200"), skip, &mut skipped)?,
        DatasetKind::Synthetic => numbered_layout(&root.join("synthetic"), skip, &mut skipped)?,
        DatasetKind::Cars196 => cars_layout(&root.join("cars196"), skip, &mut skipped)?,
        DatasetKind::OnlineProducts => sop_layout(&root.join("online_products"), skip, &mut skipped)?,
        DatasetKind::Folder => folder_layout(root, cfg, &mut skipped)?,
        DatasetKind::InShop => unreachable!("handled above"),
    };
    Ok(Layout { train, test, skipped, test_is_query: None })
}

fn images_dir(dataset_dir: &Path) -> Result<PathBuf> {
    if !dataset_dir.is_dir() {
        bail!("dataset folder {} does not exist", dataset_dir.display());
    }
    let images = dataset_dir.join("images");
    if !images.is_dir() {
        bail!(
            "expected an images/ folder inside {} (layout: {}/images/<class>/<image>)",
            dataset_dir.display(),
            dataset_dir.display()
        );
    }
    Ok(images)
}

/// Sorted sub-folders of `dir` (class folders). A symbolic link to a folder counts, as the
/// original's `os.listdir` + PIL follow links; a broken link is not a folder.
fn class_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // `metadata` follows links (`DirEntry::file_type` does not).
        if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The problems of one layout, gathered so that one error lists them all (`pads data
/// check` and training show every bad file or line at once, not the first only).
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }
    /// Ok when there is none; else an error listing them (at most 30, then a count).
    fn finish(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => bail!("{}", self.0[0]),
            n => {
                let mut lines: Vec<String> = self.0.iter().take(30).map(|p| format!("  {p}")).collect();
                if n > 30 {
                    lines.push(format!("  ... and {} more", n - 30));
                }
                bail!("{n} problems in the layout:\n{}", lines.join("\n"))
            }
        }
    }
}

/// Image files of one class folder (symbolic links followed, as the original does). `._*`
/// files are macOS debris and always ignored; an empty file, a non-image file or a link whose
/// target is missing is an error unless `skip_bad`, then a recorded skip.
fn class_images(dir: &Path, skip_bad: bool, skipped: &mut Vec<Skipped>, problems: &mut Problems) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with("._") || name.starts_with('.') {
            skipped.push(Skipped::new(&path, super::HIDDEN_FILE));
            continue;
        }
        let meta = std::fs::metadata(&path);
        if meta.as_ref().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let problem = if meta.is_err() {
            Some("a symbolic link whose target does not exist")
        } else if !is_image_name(&name) {
            Some("not an image file (expected .jpg, .jpeg, .png, .bmp, .gif, .webp or .tif)")
        } else if meta.as_ref().map_or(0, |m| m.len()) == 0 {
            Some("zero-byte file, expected image data")
        } else {
            None
        };
        match problem {
            Some(why) if skip_bad => skipped.push(Skipped::new(&path, why)),
            Some(why) => problems.push(format!("{}: {why} (pass --skip-bad-images to skip such files)", path.display())),
            None => files.push(path),
        }
    }
    files.sort();
    Ok(files)
}

fn split_from_classes(classes: Vec<(String, Vec<PathBuf>)>) -> Result<Split> {
    let mut split = Split::default();
    for (name, files) in classes {
        let label = split.classes.len();
        split.items.extend(files.into_iter().map(|path| Item { path, label }));
        split.classes.push(name);
    }
    Ok(split)
}

/// The classes of `dirs` with their images; bad files and empty classes go to `problems`
/// (the caller reports every one at once).
fn read_classes(
    images: &Path,
    dirs: Vec<(String, PathBuf)>,
    skip_bad: bool,
    skipped: &mut Vec<Skipped>,
    problems: &mut Problems,
) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let mut out = Vec::new();
    for (name, dir) in dirs {
        let files = class_images(&dir, skip_bad, skipped, problems)?;
        if files.is_empty() {
            if skip_bad {
                skipped.push(Skipped::new(&dir, "empty class folder"));
                continue;
            }
            problems.push(format!("class folder {} holds no images (under {})", dir.display(), images.display()));
            continue;
        }
        out.push((name, files));
    }
    Ok(out)
}

/// CUB200 layout, also used by the synthetic set: folders `NNN.Name`, sorted by the number,
/// first half of the classes train, second half test.
fn numbered_layout(dataset_dir: &Path, skip_bad: bool, skipped: &mut Vec<Skipped>) -> Result<(Split, Split)> {
    let images = images_dir(dataset_dir)?;
    let mut dirs = Vec::new();
    for (name, path) in class_dirs(&images)? {
        let number = name
            .split('.')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .with_context(|| {
                format!("class folder {} should be named NNN.Name (e.g. 001.Black_footed_Albatross)", path.display())
            })?;
        dirs.push((number, name, path));
    }
    dirs.sort();
    let named: Vec<_> = dirs.into_iter().map(|(_, n, p)| (n, p)).collect();
    split_halves(&images, named, skip_bad, skipped)
}

/// First half of the (ordered) class folders train, second half test.
fn split_halves(
    images: &Path,
    dirs: Vec<(String, PathBuf)>,
    skip_bad: bool,
    skipped: &mut Vec<Skipped>,
) -> Result<(Split, Split)> {
    if dirs.len() < 2 {
        bail!("{} holds {} class folders, need at least 2", images.display(), dirs.len());
    }
    let half = dirs.len() / 2;
    let (train_dirs, test_dirs) = dirs.split_at(half);
    let mut problems = Problems::default();
    let train = read_classes(images, train_dirs.to_vec(), skip_bad, skipped, &mut problems)?;
    let test = read_classes(images, test_dirs.to_vec(), skip_bad, skipped, &mut problems)?;
    problems.finish()?;
    Ok((split_from_classes(train)?, split_from_classes(test)?))
}

/// CARS196: folders named after the car model, sorted by name; first half train.
fn cars_layout(dataset_dir: &Path, skip_bad: bool, skipped: &mut Vec<Skipped>) -> Result<(Split, Split)> {
    let images = images_dir(dataset_dir)?;
    let dirs = class_dirs(&images)?;
    split_halves(&images, dirs, skip_bad, skipped)
}

/// Stanford Online Products: Info_Files/Ebay_{train,test}.txt list `image_id class_id
/// super_class_id path` after a header line; paths are relative to images/.
fn sop_layout(dataset_dir: &Path, skip_bad: bool, skipped: &mut Vec<Skipped>) -> Result<(Split, Split)> {
    let images = images_dir(dataset_dir)?;
    let info = dataset_dir.join("Info_Files");
    let (train_file, test_file) = (info.join("Ebay_train.txt"), info.join("Ebay_test.txt"));
    let train = sop_info(&train_file, &images, skip_bad, skipped)?;
    let test = sop_info(&test_file, &images, skip_bad, skipped)?;
    // The splits must be disjoint: an image in both would be its own test neighbour.
    let train_paths: std::collections::BTreeSet<&PathBuf> = train.items.iter().map(|i| &i.path).collect();
    let shared: Vec<&PathBuf> = test.items.iter().map(|i| &i.path).filter(|p| train_paths.contains(p)).collect();
    if let Some(first) = shared.first() {
        bail!(
            "{} image(s) are listed in both {} and {} (first: {}); the train and test splits must not share images",
            shared.len(),
            train_file.display(),
            test_file.display(),
            first.display()
        );
    }
    Ok((train, test))
}

fn sop_info(file: &Path, images: &Path, skip_bad: bool, skipped: &mut Vec<Skipped>) -> Result<Split> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("SOP info file {} is missing or unreadable", file.display()))?;
    // Files written by Windows tools often start with a UTF-8 byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.split_whitespace().next() == Some("image_id") => {}
        _ => bail!(
            "{}:1: expected the header `image_id class_id super_class_id path`",
            file.display()
        ),
    }
    let mut by_class: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
    // path -> (line, class id) of its first listing.
    let mut seen: std::collections::HashMap<PathBuf, (usize, u64)> = std::collections::HashMap::new();
    let mut problems = Problems::default();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let malformed = || {
            format!(
                "{}:{}: malformed line {line:?}, expected `image_id class_id super_class_id path`",
                file.display(),
                i + 1
            )
        };
        let (Ok(class_id), Ok(_), 4) = (fields.get(1).unwrap_or(&"").parse::<u64>(), fields.first().unwrap_or(&"").parse::<u64>(), fields.len()) else {
            problems.push(malformed());
            continue;
        };
        let path = images.join(fields[3]);
        if let Some(&(first, first_class)) = seen.get(&path) {
            if first_class != class_id {
                problems.push(format!("{}:{}: {} is listed again with class {class_id}; line {first} gave it class {first_class}", file.display(), i + 1, fields[3]));
                continue;
            }
            tracing::warn!("{}:{}: {} is listed again (first on line {first}); counted once", file.display(), i + 1, fields[3]);
            continue;
        }
        seen.insert(path.clone(), (i + 1, class_id));
        let problem = listed_file_problem(&path, "the info file");
        match problem {
            Some(why) if skip_bad => {
                skipped.push(Skipped::new(&path, &why));
                continue;
            }
            Some(why) => problems.push(format!("{} ({}:{}): {why}", path.display(), file.display(), i + 1)),
            None => by_class.entry(class_id).or_default().push(path),
        }
    }
    problems.finish()?;
    if by_class.is_empty() {
        bail!("{} lists no images", file.display());
    }
    split_from_classes(by_class.into_iter().map(|(c, files)| (c.to_string(), files)).collect())
}

/// Plain class-per-folder root; test classes from `--test-root` or the last share by name.
fn folder_layout(root: &Path, cfg: &DataOptions, skipped: &mut Vec<Skipped>) -> Result<(Split, Split)> {
    let skip = cfg.skip_bad_images;
    let dirs = class_dirs(root)?;
    if let Some(test_root) = &cfg.test_root {
        if !test_root.is_dir() {
            bail!("test root {} does not exist or is not a folder", test_root.display());
        }
        let test_dirs = class_dirs(test_root)?;
        let mut problems = Problems::default();
        let train = read_classes(root, dirs, skip, skipped, &mut problems)?;
        let test = read_classes(test_root, test_dirs, skip, skipped, &mut problems)?;
        problems.finish()?;
        if train.is_empty() || test.is_empty() {
            bail!("{} and {} must each hold at least one class folder", root.display(), test_root.display());
        }
        return Ok((split_from_classes(train)?, split_from_classes(test)?));
    }
    if dirs.len() < 2 {
        bail!("{} holds {} class folders, need at least 2 (layout: <root>/<class>/<image>)", root.display(), dirs.len());
    }
    let n_test = ((dirs.len() as f64) * cfg.folder_test_share).round().clamp(1.0, (dirs.len() - 1) as f64) as usize;
    let (train_dirs, test_dirs) = dirs.split_at(dirs.len() - n_test);
    let mut problems = Problems::default();
    let train = read_classes(root, train_dirs.to_vec(), skip, skipped, &mut problems)?;
    let test = read_classes(root, test_dirs.to_vec(), skip, skipped, &mut problems)?;
    problems.finish()?;
    Ok((split_from_classes(train)?, split_from_classes(test)?))
}

/// What is wrong with a file an info file lists (`listed_in` names that file): absent, or
/// empty; None when it exists with data (decoding is checked later).
fn listed_file_problem(path: &Path, listed_in: &str) -> Option<String> {
    match std::fs::metadata(path) {
        Err(_) => Some(format!("listed in {listed_in} but absent")),
        Ok(m) if m.len() == 0 => Some("zero-byte file, expected image data".to_string()),
        Ok(_) => None,
    }
}

/// In-Shop Clothes Retrieval (Liu et al., DeepFashion, CVPR 2016): `img/...` and
/// `list_eval_partition.txt` (in the dataset folder, or in its `Eval/` folder as the download
/// has it): line 1 the number of images, line 2 the header `image_name item_id
/// evaluation_status`, then `img/<path> <item_id> <train|query|gallery>` per image. Train
/// items form the training pool; query and gallery images form the test split, labelled by
/// item over both, with a per-item query flag. Items sorted by id within each split.
fn in_shop_layout(dataset_dir: &Path, skip_bad: bool, skipped: &mut Vec<Skipped>) -> Result<(Split, Split, Vec<bool>)> {
    if !dataset_dir.is_dir() {
        bail!("dataset folder {} does not exist", dataset_dir.display());
    }
    let candidates = [dataset_dir.join("list_eval_partition.txt"), dataset_dir.join("Eval").join("list_eval_partition.txt")];
    let file = candidates.iter().find(|p| p.is_file()).cloned().with_context(|| {
        format!(
            "In-Shop partition file missing: expected {} or {} (layout: {}/img/... + list_eval_partition.txt)",
            candidates[0].display(),
            candidates[1].display(),
            dataset_dir.display()
        )
    })?;
    let text = std::fs::read_to_string(&file).with_context(|| format!("{} is unreadable", file.display()))?;
    // A UTF-8 byte-order mark (Windows editors write one) is not part of the count, as for SOP.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = text.lines().enumerate();
    let announced: usize = match lines.next() {
        Some((_, l)) => l.trim().parse().map_err(|_| anyhow::anyhow!("{}:1: expected the number of images, got {l:?}", file.display()))?,
        None => bail!("{}:1: empty file, expected the number of images", file.display()),
    };
    match lines.next() {
        Some((_, h)) if h.split_whitespace().next() == Some("image_name") => {}
        _ => bail!("{}:2: expected the header `image_name item_id evaluation_status`", file.display()),
    }
    let mut train: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut test: Vec<(PathBuf, String, bool)> = Vec::new();
    let mut item_side: BTreeMap<String, (bool, usize)> = BTreeMap::new();
    let mut listed = 0usize;
    let mut problems = Problems::default();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        listed += 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 3 {
            problems.push(format!("{}:{}: malformed line {line:?}, expected `image_name item_id evaluation_status`", file.display(), i + 1));
            continue;
        }
        let (name, item, status) = (fields[0], fields[1], fields[2]);
        let is_train = match status {
            "train" => true,
            "query" | "gallery" => false,
            s => {
                problems.push(format!("{}:{}: unknown evaluation status {s:?}, expected train, query or gallery", file.display(), i + 1));
                continue;
            }
        };
        match item_side.get(item) {
            Some(&(side, first)) if side != is_train => {
                problems.push(format!(
                    "{}:{}: item {item} is listed as {status} but line {first} lists it on the other side of the train / test split",
                    file.display(),
                    i + 1
                ));
                continue;
            }
            Some(_) => {}
            None => {
                item_side.insert(item.to_string(), (is_train, i + 1));
            }
        }
        let path = dataset_dir.join(name);
        let problem = listed_file_problem(&path, "list_eval_partition.txt");
        match problem {
            Some(why) if skip_bad => {
                skipped.push(Skipped::new(&path, &why));
                continue;
            }
            Some(why) => {
                problems.push(format!("{} ({}:{}): {why} (pass --skip-bad-images to skip such files)", path.display(), file.display(), i + 1));
                continue;
            }
            None => {}
        }
        if is_train {
            train.entry(item.to_string()).or_default().push(path);
        } else {
            test.push((path, item.to_string(), status == "query"));
        }
    }
    problems.finish()?;
    if listed != announced {
        bail!("{}:1: announces {announced} images but {listed} are listed (truncated file?)", file.display());
    }
    if train.is_empty() {
        bail!("{} lists no train images", file.display());
    }
    if !test.iter().any(|t| t.2) || !test.iter().any(|t| !t.2) {
        bail!("{} must list both query and gallery images", file.display());
    }
    let train = split_from_classes(train.into_iter().collect())?;
    let mut test_items: BTreeMap<String, Vec<(PathBuf, bool)>> = BTreeMap::new();
    for (p, item, q) in test {
        test_items.entry(item).or_default().push((p, q));
    }
    let mut split = Split::default();
    let mut is_query = Vec::new();
    for (item, imgs) in test_items {
        let label = split.classes.len();
        split.classes.push(item);
        for (path, q) in imgs {
            split.items.push(Item { path, label });
            is_query.push(q);
        }
    }
    Ok((train, split, is_query))
}
