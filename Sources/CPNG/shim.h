// PNG decoding through libpng's simplified API (png.h, "Simplified API", libpng 1.6), which reports
// errors in png_image.message instead of by longjmp, wrapped so that Swift sees one call.
#ifndef DARTS_DIST_CPNG_SHIM_H
#define DARTS_DIST_CPNG_SHIM_H
#include <png.h>
#include <stdlib.h>
#include <string.h>

/// Decodes the PNG in `data[0..<size]` to 8-bit gray (1 channel, when the file has no color) or
/// RGB (3 channels; alpha is composited over black). On success returns 0 and sets `*pixels` to
/// a malloc'ed H x W x C buffer the caller frees; on failure returns -1 with libpng's reason in
/// `message` (at most `message_size` bytes, NUL-terminated); returns -2, with `*width` and
/// `*height` set and nothing allocated, when the header declares more than `max_pixels` pixels.
static inline int cpng_decode(const unsigned char *data, size_t size, size_t max_pixels, unsigned char **pixels,
                              int *width, int *height, int *channels, char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    *pixels = NULL;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    if ((size_t)image.width * (size_t)image.height > max_pixels) {   // both below 2^31 (libpng's limit)
        *width = (int)image.width;
        *height = (int)image.height;
        png_image_free(&image);
        return -2;
    }
    int color = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
    image.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    size_t bytes = PNG_IMAGE_SIZE(image);
    unsigned char *buffer = (unsigned char *)malloc(bytes ? bytes : 1);
    if (buffer == NULL) {
        png_image_free(&image);
        snprintf(message, message_size, "out of memory for %u x %u pixels", image.width, image.height);
        return -1;
    }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message);
        free(buffer);
        png_image_free(&image);
        return -1;
    }
    *pixels = buffer;
    *width = (int)image.width;
    *height = (int)image.height;
    *channels = color ? 3 : 1;
    png_image_free(&image);
    return 0;
}

/// Writes 8-bit gray (channels 1) or RGB (channels 3) pixels, H x W x C row-major, as the PNG file
/// `path`. Returns 0, or -1 with libpng's reason in `message`.
static inline int cpng_write_file(const char *path, const unsigned char *pixels, int width, int height, int channels,
                                  char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    if (!png_image_write_to_file(&image, path, 0, pixels, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    return 0;
}
#endif
