"""A benchmark result row as `eval.runner` writes it, for the report's, tables' and plots' tests."""


def result_row(**fields):
    """A row of one marked image under no attack, read exactly, with ``fields`` changed."""
    row = dict(scheme="s", image="i", attack="none", family="none", strength=1.0, marked=True, seed=0,
               payload_bits=64, bit_accuracy=1.0, exact=True, found=True, p_value=0.0, score=1.0, psnr=40.0,
               ssim=0.99, ssimulacra2=92.0, butteraugli=0.9, embed_ms=1.0, detect_ms=1.0, width=1000, height=1000,
               error="")
    return {**row, **fields}
