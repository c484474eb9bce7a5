//! Compiles `src/codecs.cpp`, the shim that opens OpenCV's image codecs on first use, against
//! the OpenCV headers pkg-config names, and tells `codecs.rs` the codecs library's soname;
//! compiles `src/jpeg.c`, the JPEG decoder that needs no codecs library, and links libjpeg.

fn main() {
    println!("cargo:rerun-if-changed=src/codecs.cpp");
    // Only the include paths and version: the opencv crate does the linking.
    let opencv = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("opencv4");
    let (includes, version) = match &opencv {
        Ok(lib) => (lib.include_paths.clone(), lib.version.clone()),
        Err(e) => {
            println!("cargo:warning=pkg-config opencv4: {e}; assuming /usr/include/opencv4, 4.6");
            (vec!["/usr/include/opencv4".into()], "4.6.0".to_string())
        }
    };
    // OpenCV's soversion is major * 100 + minor: 4.6.0 -> libopencv_imgcodecs.so.406.
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(4), parts.next().unwrap_or(0));
    println!(
        "cargo:rustc-env=KYC_IMGCODECS_SONAME=libopencv_imgcodecs.so.{}",
        major * 100 + minor
    );
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("src/codecs.cpp")
        .flag_if_supported("-std=c++17")
        .warnings(true);
    for dir in includes {
        build.include(dir);
    }
    build.compile("kyc_codecs");
    // JPEG straight through libjpeg (OpenCV's own JPEG library; Leptonica links it too).
    println!("cargo:rerun-if-changed=src/jpeg.c");
    cc::Build::new()
        .file("src/jpeg.c")
        .warnings(true)
        .compile("kyc_jpeg");
    println!("cargo:rustc-link-lib=jpeg");
}
