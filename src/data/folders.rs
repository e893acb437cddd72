//! Which folder under the data root holds a dataset, and the hints when it is not there
//! (another layout's folder, the download's name for it, the root being the folder itself).
use crate::options::DatasetKind;
use anyhow::{bail, Result};
use std::path::Path;

/// The folder each named layout reads inside the data root (`folder` reads the root itself).
pub const DATASET_FOLDERS: [(DatasetKind, &str); 5] = [
    (DatasetKind::Cub200, "cub200"),
    (DatasetKind::Cars196, "cars196"),
    (DatasetKind::OnlineProducts, "online_products"),
    (DatasetKind::InShop, "in_shop"),
    (DatasetKind::Synthetic, "synthetic"),
];

/// The names a dataset's folder has as downloaded or as other code names it, for hints.
const OTHER_NAMES: [(DatasetKind, &[&str]); 4] = [
    (DatasetKind::Cub200, &["CUB_200_2011", "CUB200", "cub_200_2011", "CUB_200"]),
    (DatasetKind::Cars196, &["CARS196", "Cars196", "cars", "stanford_cars"]),
    (DatasetKind::OnlineProducts, &["Stanford_Online_Products", "SOP", "online-products"]),
    (DatasetKind::InShop, &["InShop", "inshop", "In-shop Clothes Retrieval Benchmark", "In-Shop"]),
];

/// When `root` holds `dataset`'s folder under another name (the download's, e.g.
/// `CUB_200_2011`), or is that folder itself: how to point pads at it; "" otherwise.
fn other_name_hint(root: &Path, dataset: DatasetKind, name: &str) -> String {
    let Some((_, others)) = OTHER_NAMES.iter().find(|(k, _)| *k == dataset) else { return String::new() };
    if let Some(o) = others.iter().find(|o| root.join(o).is_dir()) {
        return format!(
            "; {} holds {o}/, which pads reads as {name}/ (the layout in docs: {name}/images/...): rename it, or link it with `ln -s {o} {}`",
            root.display(),
            root.join(name).display()
        );
    }
    match root.file_name().and_then(|n| n.to_str()) {
        Some(n) if others.contains(&n) => format!(
            "; {} looks like the {name} folder itself: name it {name} and pass the folder holding it as --data-root",
            root.display()
        ),
        _ => String::new(),
    }
}

/// Dataset folders of layouts other than `wanted` present in `root` (names, in the order
/// of `DATASET_FOLDERS`).
pub fn other_layouts(root: &Path, wanted: DatasetKind) -> Vec<&'static str> {
    DATASET_FOLDERS.iter().filter(|(k, name)| *k != wanted && root.join(name).is_dir()).map(|(_, name)| *name).collect()
}

/// " (ROOT holds cub200/: did you mean --dataset cub200?)", or "" when no other layout's
/// folder is there.
pub fn did_you_mean(root: &Path, wanted: DatasetKind) -> String {
    let others = other_layouts(root, wanted);
    match others.first() {
        Some(first) => format!(
            "; {} holds {}: did you mean --dataset {first}?",
            root.display(),
            others.iter().map(|o| format!("{o}/")).collect::<Vec<_>>().join(", ")
        ),
        None => String::new(),
    }
}

/// The dataset folder of a named layout must exist; a root that holds another layout's
/// folder gets "did you mean --dataset X?". For `folder`, a root holding a named layout's
/// folder (with its images/) is refused the same way: it would read `cub200` as one class.
pub(super) fn check_dataset_folder(root: &Path, dataset: DatasetKind) -> Result<()> {
    if dataset == DatasetKind::Folder {
        if let Some(name) = DATASET_FOLDERS.iter().map(|(_, n)| *n).find(|n| root.join(n).join("images").is_dir()) {
            bail!(
                "--dataset folder reads {}/<class>/<image>, but {} holds the {name} layout ({name}/images/): did you mean --dataset {name}?",
                root.display(),
                root.display()
            );
        }
        return Ok(());
    }
    let Some((_, name)) = DATASET_FOLDERS.iter().find(|(k, _)| *k == dataset) else { return Ok(()) };
    let dir = root.join(name);
    if dir.is_dir() {
        return Ok(());
    }
    if root.file_name().is_some_and(|n| n == *name) {
        let parent = root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        bail!(
            "dataset folder {} does not exist; {} is itself a {name} folder: did you mean --data-root {}?",
            dir.display(),
            root.display(),
            parent.display()
        );
    }
    let make = if dataset == DatasetKind::Synthetic {
        format!(" (make it with `pads synth --out {}`)", dir.display())
    } else {
        String::new()
    };
    bail!("dataset folder {} does not exist{make}{}{}", dir.display(), other_name_hint(root, dataset, name), did_you_mean(root, dataset))
}
