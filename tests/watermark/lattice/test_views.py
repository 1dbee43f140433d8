"""What a read of one image looks at: the suspect's views, shared by every key."""

import threading

import numpy as np

from watermark.schemes.lattice import masking, views


def test_two_threads_reading_two_images_do_not_wait_for_each_other(monkeypatch):
    """A service's probe: the suspect's lazily computed views were functools.cached_property, whose lock on
    Python 3.11 is one for all instances: a thread's detection waited while another's computed, and a child
    forked meanwhile hung for ever. Here one thread's computation is held; another image's goes on."""
    held, release = threading.Event(), threading.Event()
    computed = masking.denoised_residual

    def holding(working, activity):
        if threading.current_thread().name == "held":
            held.set()
            release.wait(60)
        return computed(working, activity)

    monkeypatch.setattr(masking, "denoised_residual", holding)
    suspects = [views.Suspect(np.random.default_rng(seed).random((256, 256), np.float32), (256, 256))
                for seed in (1, 2)]
    first = threading.Thread(target=lambda: suspects[0].residual, name="held")
    second = threading.Thread(target=lambda: suspects[1].residual, name="free")
    first.start()
    try:
        assert held.wait(60)
        second.start()
        second.join(30)
        assert not second.is_alive() and suspects[1]._residual is not None
    finally:
        release.set()
        first.join()
        second.join()
