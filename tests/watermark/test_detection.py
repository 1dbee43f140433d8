"""Geometry.from_transform: a pure decomposition of the affine map a detection undid."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watermark.detection import Geometry


def _forward(degrees, scale, shear, flipped):
    """The mark's frame -> suspect (x, y) map: mirror, shear, scale, then rotate counter-clockwise
    as displayed, as OpenCV's getRotationMatrix2D means it (y pointing down)."""
    rotation = cv2.getRotationMatrix2D((0.0, 0.0), degrees, 1.0)[:, :2]
    upper = np.array([[scale[0], scale[0] * shear], [0.0, scale[1]]])
    mirror = np.diag([-1.0, 1.0]) if flipped else np.eye(2)
    return rotation @ upper @ mirror


def _transform(forward, offset=(0.0, 0.0)):
    """``Detection.transform``: suspect (x, y) -> the mark's frame, with the frame's offset."""
    return np.column_stack([np.linalg.inv(forward), offset])


def _angle_difference(a, b):
    return (a - b + 180.0) % 360.0 - 180.0


@settings(max_examples=200, deadline=None)
@given(degrees=st.floats(-179.9, 180.0), sx=st.floats(0.2, 5.0), sy=st.floats(0.2, 5.0),
       shear=st.floats(-0.6, 0.6), flipped=st.booleans(),
       offset=st.tuples(st.floats(0.0, 127.9), st.floats(0.0, 127.9)))
def test_decomposition_recovers_the_parameters(degrees, sx, sy, shear, flipped, offset):
    geometry = Geometry.from_transform(_transform(_forward(degrees, (sx, sy), shear, flipped), offset))
    assert geometry.flipped is flipped
    assert abs(_angle_difference(geometry.degrees, degrees)) < 1e-6
    assert -180.0 < geometry.degrees <= 180.0
    assert geometry.scale == pytest.approx((sx, sy), rel=1e-9)
    assert geometry.shear == pytest.approx(shear, abs=1e-9)
    assert geometry.offset == offset


def test_composed_rotations_and_scales_add_up():
    forward = _forward(30.0, (1.5, 1.5), 0.0, False) @ _forward(-75.0, (0.8, 0.8), 0.0, False)
    geometry = Geometry.from_transform(_transform(forward))
    assert geometry.degrees == pytest.approx(-45.0)
    assert geometry.scale == pytest.approx((1.2, 1.2))
    assert geometry.shear == pytest.approx(0.0, abs=1e-12) and not geometry.flipped


def test_two_mirrors_are_a_rotation_and_a_vertical_flip_reads_as_mirrored_and_180():
    horizontal, vertical = np.diag([-1.0, 1.0]), np.diag([1.0, -1.0])
    both = Geometry.from_transform(_transform(horizontal @ vertical))
    assert not both.flipped and abs(_angle_difference(both.degrees, 180.0)) < 1e-9
    flipped = Geometry.from_transform(_transform(vertical))
    assert flipped.flipped and flipped.degrees == pytest.approx(180.0)
    assert flipped.scale == pytest.approx((1.0, 1.0)) and flipped.shear == pytest.approx(0.0, abs=1e-12)


def test_aspect_change_after_a_rotation_is_a_shear_of_the_frame():
    # A rotated frame stretched along the suspect's x is no rotation-scale pair: it needs the shear.
    stretch = np.diag([1.3, 1.0])
    geometry = Geometry.from_transform(_transform(stretch @ _forward(20.0, (1.0, 1.0), 0.0, False)))
    rebuilt = _forward(geometry.degrees, geometry.scale, geometry.shear, geometry.flipped)
    np.testing.assert_allclose(rebuilt, stretch @ _forward(20.0, (1.0, 1.0), 0.0, False), atol=1e-12)
    assert abs(geometry.shear) > 0.05


def test_it_reads_the_matrix_opencv_rotates_with():
    # cv2.warpAffine(image, M, ...) maps frame (x, y) to the suspect's by M: the transform is its inverse.
    matrix = cv2.getRotationMatrix2D((60.0, 40.0), 12.5, 0.75)
    inverse = cv2.invertAffineTransform(matrix)
    geometry = Geometry.from_transform(inverse)
    assert geometry.degrees == pytest.approx(12.5) and geometry.scale == pytest.approx((0.75, 0.75))
    assert geometry.offset == (inverse[0, 2], inverse[1, 2])
