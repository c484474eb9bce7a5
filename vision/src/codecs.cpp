// OpenCV's image decoder, opened on first use instead of at process start (see codecs.rs):
// dlopen the codecs library, find cv::imdecode, and turn its C++ exceptions into messages so
// that none crosses into Rust.
#include <opencv2/core.hpp>

#include <dlfcn.h>

#include <climits>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <utility>

namespace {

using Imdecode = cv::Mat (*)(cv::InputArray, int);
// cv::imdecode(cv::_InputArray const&, int)
const char* const IMDECODE_SYMBOL = "_ZN2cv8imdecodeERKNS_11_InputArrayEi";
Imdecode imdecode_fn = nullptr;

void put(char* err, size_t err_len, const char* msg) {
    if (err != nullptr && err_len > 0) {
        std::snprintf(err, err_len, "%s", msg);
    }
}

}  // namespace

// Opens `soname` and finds cv::imdecode in it. The caller runs this once, before any
// kyc_codecs_imdecode. Returns 0, or 1 with the reason in `err`.
extern "C" int kyc_codecs_open(const char* soname, char* err, size_t err_len) {
    // RTLD_DEEPBIND: the library and its dependencies (GDAL's tree) resolve their symbols in
    // their own scope first instead of walking every library the process already has.
    void* lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (lib == nullptr) {
        const char* e = dlerror();
        put(err, err_len, e != nullptr ? e : "dlopen failed");
        return 1;
    }
    void* sym = dlsym(lib, IMDECODE_SYMBOL);
    if (sym == nullptr) {
        const char* e = dlerror();
        put(err, err_len, e != nullptr ? e : "cv::imdecode not found");
        return 1;
    }
    imdecode_fn = reinterpret_cast<Imdecode>(sym);
    return 0;
}

// cv::imdecode(data, flags) into a new cv::Mat (*out, to be deleted by the caller). Returns 0,
// or 1 with the exception's message in `err`.
extern "C" int kyc_codecs_imdecode(const unsigned char* data, size_t len, int flags, void** out,
                                   char* err, size_t err_len) {
    *out = nullptr;
    if (imdecode_fn == nullptr) {
        put(err, err_len, "the image codecs are not loaded");
        return 1;
    }
    if (len == 0 || len > static_cast<size_t>(INT_MAX)) {
        put(err, err_len, "the encoded image is empty or over 2 GiB");
        return 1;
    }
    try {
        cv::Mat buf(1, static_cast<int>(len), CV_8UC1, const_cast<unsigned char*>(data));
        cv::Mat decoded = imdecode_fn(buf, flags);
        *out = new cv::Mat(std::move(decoded));
        return 0;
    } catch (const std::exception& e) {
        put(err, err_len, e.what());
    } catch (...) {
        put(err, err_len, "unknown C++ exception");
    }
    return 1;
}
