"""Which file extensions name which image formats: the extensions `imagewrite.save_image` writes and the format
each names, those of the files a folder's walk reads, and those of pictures in formats Filigrane does not read."""

__all__ = ["OUTPUT_FORMATS", "OUTPUT_EXTENSIONS", "IMAGE_EXTENSIONS", "UNREAD_EXTENSIONS"]

# Pillow's format name that each output extension writes. An MPO's copy is a plain JPEG (its primary picture),
# which MPO readers read; an APNG's, one frame, a PNG
OUTPUT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".mpo": "JPEG", ".png": "PNG",
                  ".apng": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP", ".gif": "GIF"}
OUTPUT_EXTENSIONS = frozenset(OUTPUT_FORMATS)                                 # what save_image writes
IMAGE_EXTENSIONS = OUTPUT_EXTENSIONS | {".avif"}                              # what load_image reads
# pictures a folder walk leaves out, counted and said (`listing.left_out_line`): phones' HEIF, cameras' raw files,
# layered and newer formats, which a photographer converts before marking
UNREAD_EXTENSIONS = frozenset({".heic", ".heif", ".hif", ".jxl", ".jp2", ".psd", ".psb", ".dng", ".cr2", ".cr3",
                               ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".rwl",
                               ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf"})
