//! `gatehouse-wasm-split INPUT.wasm OUT_DIR NAME`: splits the WebAssembly that cargo linked (with
//! `--emit-relocs`) at Leptos' lazy functions. Writes `OUT_DIR/NAME.wasm`, the main module for
//! wasm-bindgen; `split_*.wasm` and `chunk_*.wasm`, the lazy code; `__wasm_split.js`, the loader
//! the main module imports; and `__wasm_split_manifest.json`, which chunks each lazy function
//! needs (the server turns it into preload links). Prints the files it wrote, one per line.

use std::path::PathBuf;
use std::process::ExitCode;

/// The loader's name as the main module imports it, relative to the JavaScript that
/// wasm-bindgen writes beside it (the name Leptos looks for).
const LOADER: &str = "./__wasm_split.______________________.js";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out_dir, name] = args.as_slice() else {
        eprintln!("usage: gatehouse-wasm-split INPUT.wasm OUT_DIR NAME");
        return ExitCode::from(2);
    };
    match split(input.into(), out_dir.into(), name) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gatehouse-wasm-split: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn split(input: PathBuf, out_dir: PathBuf, name: &str) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let wasm = std::fs::read(&input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    std::fs::create_dir_all(&out_dir)?;
    let main_out = out_dir.join(format!("{name}.wasm"));
    let main_module = format!("./{name}.js");
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = &out_dir;
    options.main_out_path = &main_out;
    options.main_module = &main_module;
    options.link_name = LOADER;
    let split = wasm_split_cli_support::transform(options).map_err(|e| format!("{e:#}"))?;
    std::fs::write(out_dir.join("__wasm_split_manifest.json"), serde_json::to_string_pretty(&split.prefetch_map)?)?;
    Ok(split.split_modules)
}
