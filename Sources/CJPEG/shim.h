// JPEG decoding through libjpeg-turbo's libjpeg API (jpeglib.h; libjpeg.txt, "Decompression
// details"). libjpeg reports fatal errors by calling error_exit, which must not return: here it
// longjmps back into cjpeg_decode, which Swift cannot do itself. Warnings (a truncated file is
// one: "Premature end of JPEG file") are treated as errors and end the decoding at once, so a
// damaged file is never accepted and never decoded further.
#ifndef DARTS_DIST_CJPEG_SHIM_H
#define DARTS_DIST_CJPEG_SHIM_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

struct cjpeg_error_manager {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void cjpeg_error_exit(j_common_ptr info) {
    struct cjpeg_error_manager *manager = (struct cjpeg_error_manager *)info->err;
    (*info->err->format_message)(info, manager->message);
    longjmp(manager->jump, 1);
}

/// Progressive JPEGs: each scan walks the whole coefficient buffer, so a small file of thousands
/// of tiny scans costs minutes (libjpeg-turbo limits scans the same way: djpeg -maxscans,
/// TJPARAM_SCANLIMIT). More than CJPEG_MAX_SCANS scans end the decoding as an error.
#define CJPEG_MAX_SCANS 500

static void cjpeg_progress(j_common_ptr info) {
    j_decompress_ptr decompress = (j_decompress_ptr)info;
    if (decompress->input_scan_number > CJPEG_MAX_SCANS) {
        struct cjpeg_error_manager *manager = (struct cjpeg_error_manager *)info->err;
        snprintf(manager->message, sizeof manager->message, "more than %d scans", CJPEG_MAX_SCANS);
        longjmp(manager->jump, 1);
    }
}

static void cjpeg_emit_message(j_common_ptr info, int level) {
    struct cjpeg_error_manager *manager = (struct cjpeg_error_manager *)info->err;
    if (level < 0) {   // a warning: ends the decoding as an error does; trace messages (level >= 0) are ignored
        (*info->err->format_message)(info, manager->message);
        longjmp(manager->jump, 1);
    }
}

/// Decodes the JPEG in `data[0..<size]` to 8-bit gray (1 channel, for a grayscale JPEG) or RGB
/// (3 channels, any other color space converted by libjpeg). On success returns 0 and sets
/// `*pixels` to a malloc'ed H x W x C buffer the caller frees; on failure (an error or a warning)
/// returns -1 with libjpeg's message in `message` (at most `message_size` bytes, NUL-terminated);
/// returns -2, with `*width` and `*height` set and no pixel buffer allocated, when the header
/// declares more than `max_pixels` pixels.
static inline int cjpeg_decode(const unsigned char *data, unsigned long size, size_t max_pixels, unsigned char **pixels,
                               int *width, int *height, int *channels, char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    struct cjpeg_error_manager manager;
    struct jpeg_progress_mgr progress;
    unsigned char *volatile buffer = NULL;
    memset(&manager, 0, sizeof manager);
    *pixels = NULL;
    info.err = jpeg_std_error(&manager.base);
    manager.base.error_exit = cjpeg_error_exit;
    manager.base.emit_message = cjpeg_emit_message;
    if (setjmp(manager.jump)) {
        snprintf(message, message_size, "%s", manager.message);
        jpeg_destroy_decompress(&info);
        free(buffer);
        return -1;
    }
    jpeg_create_decompress(&info);
    memset(&progress, 0, sizeof progress);
    progress.progress_monitor = cjpeg_progress;
    info.progress = &progress;
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    if ((size_t)info.image_width * (size_t)info.image_height > max_pixels) {   // each at most 65,500
        *width = (int)info.image_width;
        *height = (int)info.image_height;
        jpeg_destroy_decompress(&info);
        return -2;
    }
    info.out_color_space = info.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&info);
    size_t row = (size_t)info.output_width * (size_t)info.output_components;
    buffer = (unsigned char *)malloc(row * info.output_height + 1);
    if (buffer == NULL) {
        snprintf(message, message_size, "out of memory for %u x %u pixels", info.output_width, info.output_height);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW line = buffer + row * info.output_scanline;
        jpeg_read_scanlines(&info, &line, 1);
    }
    jpeg_finish_decompress(&info);
    *pixels = buffer;
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    *channels = info.output_components;
    jpeg_destroy_decompress(&info);
    return 0;
}

/// Encodes 8-bit gray (channels 1) or RGB (channels 3) pixels, H x W x C row-major, as a JPEG of
/// quality `quality` (1...100). On success returns 0 and sets `*jpeg` (malloc'ed, the caller frees)
/// and `*jpeg_size`; on failure returns -1 with libjpeg's message.
static inline int cjpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                               unsigned char **jpeg, unsigned long *jpeg_size, char *message, size_t message_size) {
    struct jpeg_compress_struct info;
    struct cjpeg_error_manager manager;
    memset(&manager, 0, sizeof manager);
    *jpeg = NULL;
    *jpeg_size = 0;
    info.err = jpeg_std_error(&manager.base);
    manager.base.error_exit = cjpeg_error_exit;
    if (setjmp(manager.jump)) {
        snprintf(message, message_size, "%s", manager.message);
        jpeg_destroy_compress(&info);
        return -1;
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, jpeg, jpeg_size);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = channels;
    info.in_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW line = (JSAMPROW)(pixels + (size_t)info.next_scanline * (size_t)width * (size_t)channels);
        jpeg_write_scanlines(&info, &line, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    return 0;
}
#endif
