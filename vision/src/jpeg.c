/* JPEG decoding with libjpeg(-turbo) directly, as OpenCV's own JPEG decoder does it, so that a
 * command decoding only JPEGs never opens OpenCV's codecs library (and GDAL behind it); see
 * jpeg.rs. The settings are OpenCV's (libjpeg's defaults: islow IDCT, fancy upsampling), the
 * output is BGR, and the EXIF orientation is read here for the caller to apply as cv::imdecode
 * does. libjpeg reports fatal errors through longjmp, which is why this part is C. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

struct kyc_jpeg_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void kyc_jpeg_error_exit(j_common_ptr cinfo) {
    struct kyc_jpeg_error* err = (struct kyc_jpeg_error*)cinfo->err;
    err->mgr.format_message(cinfo, err->message);
    longjmp(err->jump, 1);
}

/* Warnings (a truncated stream, extra bytes) are not errors: OpenCV keeps the image too. */
static void kyc_jpeg_quiet(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level;
}

static unsigned read16(const unsigned char* p, int le) {
    return le ? (unsigned)(p[0] | (p[1] << 8)) : (unsigned)((p[0] << 8) | p[1]);
}

static unsigned long read32(const unsigned char* p, int le) {
    return le ? ((unsigned long)p[0] | ((unsigned long)p[1] << 8) | ((unsigned long)p[2] << 16) |
                 ((unsigned long)p[3] << 24))
              : (((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) |
                 ((unsigned long)p[2] << 8) | (unsigned long)p[3]);
}

/* The Orientation tag (0x0112) of IFD0 in an APP1 "Exif" segment; 1 (as stored) when absent
 * or unreadable. */
static int exif_orientation(const unsigned char* d, size_t n) {
    if (n < 14 || memcmp(d, "Exif\0\0", 6) != 0) {
        return 1;
    }
    const unsigned char* t = d + 6;
    size_t tn = n - 6;
    int le;
    if (t[0] == 'I' && t[1] == 'I') {
        le = 1;
    } else if (t[0] == 'M' && t[1] == 'M') {
        le = 0;
    } else {
        return 1;
    }
    unsigned long ifd = read32(t + 4, le);
    if (ifd + 2 > tn) {
        return 1;
    }
    unsigned count = read16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = ifd + 2 + (size_t)i * 12;
        if (e + 12 > tn) {
            return 1;
        }
        if (read16(t + e, le) == 0x0112) {
            unsigned v = read16(t + e + 8, le);
            return (v >= 1 && v <= 8) ? (int)v : 1;
        }
    }
    return 1;
}

/* Decodes `data` to 8-bit BGR into a malloc'd buffer (*pixels, rows of width * 3 bytes, freed
 * by the caller with kyc_jpeg_free). Returns 0 with *width, *height and *orientation set; 1
 * when libjpeg refused the data (the message in `err`: cv::imdecode gives an empty image
 * then); 2 when this is a JPEG OpenCV converts in its own way (CMYK, YCCK), for the caller to
 * hand to OpenCV. */
int kyc_jpeg_decode_bgr(const unsigned char* data, size_t len, unsigned char** pixels,
                        int* width, int* height, int* orientation, char* err, size_t err_len) {
    struct jpeg_decompress_struct cinfo;
    struct kyc_jpeg_error jerr;
    unsigned char* volatile out = NULL;
    *pixels = NULL;
    *width = 0;
    *height = 0;
    *orientation = 1;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = kyc_jpeg_error_exit;
    jerr.mgr.emit_message = kyc_jpeg_quiet;
    jerr.message[0] = '\0';
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(out);
        if (err != NULL && err_len > 0) {
            snprintf(err, err_len, "%s", jerr.message);
        }
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.num_components != 1 && cinfo.num_components != 3) {
        jpeg_destroy_decompress(&cinfo);
        return 2;
    }
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != NULL; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0) {
            *orientation = exif_orientation(m->data, m->data_length);
            break;
        }
    }
    cinfo.out_color_space = JCS_EXT_BGR;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    out = malloc(stride * cinfo.output_height);
    if (out == NULL) {
        jpeg_destroy_decompress(&cinfo);
        if (err != NULL && err_len > 0) {
            snprintf(err, err_len, "out of memory for a %ux%u image", cinfo.output_width,
                     cinfo.output_height);
        }
        return 1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    *pixels = out;
    return 0;
}

void kyc_jpeg_free(unsigned char* pixels) { free(pixels); }
