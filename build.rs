//! Makes the `pads` binary find libtorch at run time with nothing for the user to export:
//! an rpath to the PyTorch that tch was built against (the project's venv), and an explicit
//! link of libtorch_cuda, which the linker would otherwise drop as unused (see setup notes).
use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH_LIB") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    let python = match std::env::var("VIRTUAL_ENV") {
        Ok(venv) => PathBuf::from(venv).join("bin").join("python"),
        Err(_) => PathBuf::from("python3"),
    };
    let out = Command::new(python)
        .args(["-c", "import torch, os; print(os.path.dirname(torch.__file__))"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(dir.trim()).join("lib"))
}

fn main() {
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    println!("cargo:rerun-if-env-changed=LIBTORCH_LIB");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(lib) = torch_lib_dir() else {
        println!("cargo:warning=PyTorch not found; run `make build` so tch uses the project venv");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-env=PADS_TORCH_LIB={}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
