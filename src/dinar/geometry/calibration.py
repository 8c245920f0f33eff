"""Calibrated cameras of multi-camera rigs: readers (Pose2Sim TOML, Qualisys ``.qca.txt``, OpenCV YAML/JSON),
projection with lens distortion, undistortion of images, and the exact conversion to dinar's :class:`Camera`.

A :class:`CalibratedCamera` is kept in the **OpenCV convention**, as calibration tools write it:
``x_cam = R @ X + t`` (world -> camera, metres), ``u = fx * x'' + cx`` with the distortion model of
``cv2.projectPoints`` (``dist = k1, k2, p1, p2[, k3[, k4, k5, k6]]``), and the centre of pixel
``(col, row)`` at ``(col, row)``. dinar puts that centre at ``(col + 0.5, row + 0.5)``
(:mod:`dinar.geometry.camera`), so :meth:`CalibratedCamera.to_camera` adds 0.5 to the principal point;
nothing else changes. The distortion is not part of dinar's pinhole camera: undistort the frames
first (:func:`undistort_image`, same pixel grid, same ``K``), then :meth:`to_camera` is exact for them.

Readers (:func:`read_calibration` picks one from the file name):

- **Pose2Sim** ``Calib_*.toml``: one table per camera with ``name``, ``size = [W, H]``, ``matrix``
  (K), ``distortions = [k1, k2, p1, p2]``, ``rotation`` (Rodrigues vector, world -> camera) and
  ``translation`` (metres), ``fisheye``; already OpenCV's convention. Fisheye cameras are refused.
- **Qualisys** ``.qca.txt`` (XML, :func:`read_qualisys_qca`): QTM stores each camera's pose in the
  world, not the world in the camera, in its own camera axes, in millimetres, and its intrinsics in
  sub-pixels of 1/64 pixel on the full sensor. The conversion, for a ``<transform x y z r11 .. r33>``
  and an ``<intrinsic>`` inside a ``<fov_video left top right bottom>`` window:

  1. ``M = [[r11, r12, r13], [r21, r22, r23], [r31, r32, r33]]``: its rows are the camera's axes in
     world coordinates, so ``M @ (X - C)`` are camera coordinates, with ``C = (x, y, z) / 1000`` the
     camera centre in metres;
  2. QTM's camera looks along its -z with +y up (OpenGL-like); OpenCV's looks along +z with +y down:
     a half turn about x, ``F = diag(1, -1, -1)``. So ``R = F @ M`` and ``t = -R @ C``;
  3. ``fx = focalLengthU / 64``, ``fy = focalLengthV / 64``, ``cx = centerPointU / 64 - left``,
     ``cy = centerPointV / 64 - top`` (the video window's corner on the sensor); the image is
     ``(right - left + 1) x (bottom - top + 1)``. With pixel binning (``binning > 1``: 540p filming
     on a 1080p sensor) the sub-pixel values are divided by ``64 * binning``;
  4. ``dist = (radialDistortion1, radialDistortion2, tangentalDistortion1, tangentalDistortion2,
     radialDistortion3) / (64 * binning)``: QTM's coefficients act on sub-pixel coordinates.

  Steps 1-4 are Pose2Sim's conversion (``Pose2Sim.calibration.calib_qca_fun`` of pose2sim 0.7.2, which
  recorded the demo capture) written out; ``tests/test_calibration.py`` checks them on a camera
  computed by hand.
- **OpenCV** YAML (``cv2.FileStorage`` files, ``!!opencv-matrix`` nodes) or JSON
  (:func:`read_opencv_calibration`): one camera, or several under ``cameras`` (a list or a mapping of
  name -> camera), each with ``K`` (or ``camera_matrix`` / ``cameraMatrix``), ``dist`` (or
  ``distortion_coefficients`` / ``dist_coeffs`` / ``D``, optional), ``R`` (3 x 3) or ``rvec``
  (Rodrigues), ``t`` (or ``tvec`` / ``T``), ``width`` and ``height`` (or ``image_width`` /
  ``image_height`` / ``size = [W, H]``), and optionally ``name``. Intrinsics and extrinsics may come
  in two files (the extrinsics file gives ``R``/``rvec`` and ``t`` per camera name).
  :func:`write_opencv_calibration` writes the same format.

Every reader raises :class:`CalibrationError` (a ``ValueError``) naming the file and what is wrong.
This module imports neither OpenCV nor mediapipe: numpy, scipy, kornia and PyYAML do the work.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dinar.geometry.camera import Camera

PIXEL_CENTRE_SHIFT = 0.5
"""dinar's pixel coordinate minus OpenCV's for the same point of the image (module docstring)."""

QUALISYS_SUBPIXELS = 64.0
"""QTM stores intrinsics in sub-pixels of 1/64 pixel."""

_FLIP_YZ = np.diag([1.0, -1.0, -1.0])  # QTM camera axes (looks along -z, y up) -> OpenCV's (z forward, y down)


class CalibrationError(ValueError):
    """A calibration file that cannot be read or used; the message names the file."""


@dataclass(frozen=True)
class CalibratedCamera:
    """One calibrated camera in the OpenCV convention (module docstring), float64."""

    name: str
    width: int  # image width in pixels
    height: int  # image height in pixels
    K: np.ndarray  # [3, 3] intrinsics, pixel centres at integer coordinates (OpenCV)
    dist: np.ndarray  # [n] distortion k1, k2, p1, p2[, k3[, k4, k5, k6]] (n = 0, 4, 5 or 8)
    R: np.ndarray  # [3, 3] world -> camera rotation
    t: np.ndarray  # [3] world -> camera translation, metres

    def __post_init__(self) -> None:
        K, dist, R, t = (np.asarray(x, dtype=np.float64) for x in (self.K, self.dist, self.R, self.t))
        dist = dist.reshape(-1)
        if K.shape != (3, 3) or R.shape != (3, 3) or t.reshape(-1).shape != (3,):
            raise CalibrationError(f"camera {self.name!r}: K and R must be 3 x 3 and t has 3 values, got {K.shape}, {R.shape}, {t.shape}")
        if dist.size not in (0, 4, 5, 8):
            raise CalibrationError(f"camera {self.name!r}: {dist.size} distortion coefficients; expected 4, 5 or 8 (k1 k2 p1 p2 [k3 [k4 k5 k6]])")
        if not (np.isfinite(K).all() and np.isfinite(dist).all() and np.isfinite(R).all() and np.isfinite(t).all()):
            raise CalibrationError(f"camera {self.name!r}: non-finite calibration values")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0.0, 0.0, 1.0]):
            raise CalibrationError(f"camera {self.name!r}: K must have positive focal lengths and last row 0 0 1, got {K.tolist()}")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
            raise CalibrationError(f"camera {self.name!r}: R is not a rotation (R R^T = I, det 1)")
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(f"camera {self.name!r}: image size {self.width} x {self.height} must be positive")
        for key, value in (("K", K), ("dist", dist), ("R", R), ("t", t.reshape(3))):
            value.setflags(write=False)
            object.__setattr__(self, key, value)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def center(self) -> np.ndarray:
        """The camera centre in world coordinates, ``[3]`` metres."""
        return -self.R.T @ self.t

    @property
    def has_distortion(self) -> bool:
        return bool(self.dist.size and np.any(self.dist != 0))

    def dist8(self) -> np.ndarray:
        """The distortion as 8 coefficients ``k1 k2 p1 p2 k3 k4 k5 k6`` (missing ones are 0)."""
        out = np.zeros(8)
        out[: self.dist.size] = self.dist
        return out

    def with_size(self, width: int, height: int) -> CalibratedCamera:
        """The same camera for a video of another size on the same pixel grid (cropped or padded at the right/bottom)."""
        return replace(self, width=int(width), height=int(height))

    def project(self, points: np.ndarray) -> np.ndarray:
        """World ``points [N, 3]`` -> OpenCV pixel coordinates ``[N, 2]`` with the lens distortion (``cv2.projectPoints``)."""
        cam = np.asarray(points, dtype=np.float64) @ self.R.T + self.t
        return self.distort_normalized(cam[:, :2] / cam[:, 2:3]) @ self.K[:2, :2].T + self.K[:2, 2]

    def distort_normalized(self, xy: np.ndarray) -> np.ndarray:
        """Ideal normalized coordinates ``[N, 2]`` -> distorted normalized coordinates (OpenCV's model)."""
        k1, k2, p1, p2, k3, k4, k5, k6 = self.dist8()
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], -1)

    def to_camera(self) -> Camera:
        """dinar's pinhole :class:`Camera` (batch 1, float32) of this camera's **undistorted** image: the
        same R, t and K with the principal point moved by +0.5 pixel (module docstring)."""
        K = self.K.copy()
        K[0, 2] += PIXEL_CENTRE_SHIFT
        K[1, 2] += PIXEL_CENTRE_SHIFT
        f = torch.from_numpy
        return Camera(K=f(K).float()[None], R=f(self.R.copy()).float()[None], t=f(self.t.copy()).float()[None],
                      width=self.width, height=self.height)

    def to_json(self) -> dict[str, Any]:
        """The camera as the OpenCV-style JSON of :func:`write_opencv_calibration` (full float64 precision)."""
        return {"name": self.name, "width": self.width, "height": self.height, "K": self.K.tolist(), "dist": self.dist.tolist(),
                "R": self.R.tolist(), "t": self.t.tolist()}


# Rotations ------------------------------------------------------------------------------------


def rodrigues_to_matrix(rvec: Sequence[float]) -> np.ndarray:
    """Rodrigues (axis-angle) vector ``[3]`` -> rotation matrix ``[3, 3]``, float64 (as ``cv2.Rodrigues``)."""
    from scipy.spatial.transform import Rotation

    v = np.asarray(rvec, dtype=np.float64).reshape(3)
    return Rotation.from_rotvec(v).as_matrix()


def matrix_to_rodrigues(R: np.ndarray) -> np.ndarray:
    """Rotation matrix ``[3, 3]`` -> Rodrigues vector ``[3]``, float64."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_rotvec()


# Readers --------------------------------------------------------------------------------------


def read_calibration(path: str | Path, *, extrinsics: str | Path | None = None, binning: int = 1) -> list[CalibratedCamera]:
    """The cameras of a calibration file, by its name: ``*.toml`` Pose2Sim, ``*.qca.txt`` / ``*.qca`` Qualisys,
    ``*.yml`` / ``*.yaml`` / ``*.json`` OpenCV (``extrinsics``: a second OpenCV file with R/t per camera)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such calibration file")
    name = path.name.lower()
    opencv = name.endswith((".yml", ".yaml", ".json"))
    if extrinsics is not None and not opencv:
        raise CalibrationError(f"{extrinsics}: a separate extrinsics file goes with OpenCV intrinsics (.yml/.json), not with {path.name}")
    if binning != 1 and not name.endswith((".qca.txt", ".qca")):
        raise CalibrationError(f"{path}: binning applies to Qualisys .qca.txt files only")
    if name.endswith(".toml"):
        cameras = read_pose2sim_toml(path)
    elif name.endswith((".qca.txt", ".qca")):
        cameras = read_qualisys_qca(path, binning=binning)
    elif opencv:
        cameras = read_opencv_calibration(path, extrinsics=extrinsics)
    else:
        raise CalibrationError(f"{path}: unknown calibration format; give a Pose2Sim .toml, a Qualisys .qca.txt or an OpenCV .yml/.json")
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise CalibrationError(f"{path}: camera names repeat ({names}); each camera needs its own name")
    return cameras


def read_pose2sim_toml(path: str | Path) -> list[CalibratedCamera]:
    """Pose2Sim's ``Calib_*.toml`` (module docstring), cameras in file order."""
    path = Path(path)
    doc = _load_toml(path)
    cameras = []
    for key, section in doc.items():
        if key == "metadata" or not isinstance(section, dict):
            continue
        where = f"{path}: camera [{key}]"
        if section.get("fisheye", False):
            raise CalibrationError(f"{where} is a fisheye camera, which dinar cannot undistort yet; calibrate it with the pinhole model")
        try:
            width, height = (round(float(v)) for v in section["size"])
            camera = CalibratedCamera(
                name=str(section.get("name", key)), width=width, height=height, K=np.array(section["matrix"], dtype=np.float64),
                dist=np.array(section.get("distortions", []), dtype=np.float64), R=rodrigues_to_matrix(section["rotation"]),
                t=np.array(section["translation"], dtype=np.float64),
            )
        except KeyError as err:
            raise CalibrationError(f"{where} has no {err.args[0]!r} (a Pose2Sim camera has name, size, matrix, distortions, rotation, translation)") from None
        except (TypeError, ValueError) as err:
            raise CalibrationError(f"{where}: {err}") from None
        cameras.append(camera)
    if not cameras:
        raise CalibrationError(f"{path}: no camera tables (expected [cam_01] ... with size, matrix, distortions, rotation, translation)")
    return cameras


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise CalibrationError(f"{path}: reading TOML needs Python >= 3.11 or `pip install tomli`") from None
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise CalibrationError(f"{path}: not a readable TOML file ({err})") from None


def read_qualisys_qca(path: str | Path, binning: int = 1) -> list[CalibratedCamera]:
    """Qualisys QTM's ``.qca.txt`` (module docstring: the conversion to OpenCV), cameras in file order."""
    path = Path(path)
    if binning < 1:
        raise CalibrationError(f"{path}: binning must be >= 1, got {binning}")
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise CalibrationError(f"{path}: not a readable Qualisys .qca.txt (XML) file ({err})") from None
    tags = root.findall("cameras/camera")
    if not tags:
        raise CalibrationError(f"{path}: no <cameras><camera> elements (is it a Qualisys .qca.txt file?)")
    cameras = []
    for i, tag in enumerate(tags):
        name = tag.get("serial") or f"camera{i + 1}"
        where = f"{path}: camera {name!r}"
        if tag.get("active", "1") == "0":
            continue
        fov, transform, intrinsic = tag.find("fov_video"), tag.find("transform"), tag.find("intrinsic")
        if fov is None or transform is None or intrinsic is None:
            raise CalibrationError(f"{where} lacks <fov_video>, <transform> or <intrinsic>")
        try:
            left, top = _attr(fov, "left"), _attr(fov, "top")
            width = round((_attr(fov, "right") - left + 1) / binning)
            height = round((_attr(fov, "bottom") - top + 1) / binning)
            sub = QUALISYS_SUBPIXELS * binning
            K = np.array([[_attr(intrinsic, "focalLengthU") / sub, _attr(intrinsic, "skew") / sub if "skew" in intrinsic.attrib else 0.0,
                           _attr(intrinsic, "centerPointU") / sub - left],
                          [0.0, _attr(intrinsic, "focalLengthV") / sub, _attr(intrinsic, "centerPointV") / sub - top],
                          [0.0, 0.0, 1.0]])
            dist = np.array([_attr(intrinsic, k) for k in ("radialDistortion1", "radialDistortion2", "tangentalDistortion1",
                                                         "tangentalDistortion2", "radialDistortion3")]) / sub
            M = np.array([[_attr(transform, f"r{r}{c}") for c in (1, 2, 3)] for r in (1, 2, 3)])
            centre = np.array([_attr(transform, k) for k in ("x", "y", "z")]) / 1000.0
        except KeyError as err:
            raise CalibrationError(f"{where} lacks the attribute {err.args[0]!r}") from None
        except ValueError as err:
            raise CalibrationError(f"{where}: {err}") from None
        R = _FLIP_YZ @ M
        cameras.append(CalibratedCamera(name=name, width=width, height=height, K=K, dist=dist, R=R, t=-R @ centre))
    return cameras


def _attr(element: ET.Element, key: str) -> float:
    """A numeric XML attribute (KeyError when missing, ValueError when not a number)."""
    return float(element.attrib[key])


_K_KEYS = ("K", "camera_matrix", "cameraMatrix", "matrix")
_DIST_KEYS = ("dist", "distortion_coefficients", "dist_coeffs", "distCoeffs", "D", "distortions")
_T_KEYS = ("t", "tvec", "T", "translation")


def read_opencv_calibration(path: str | Path, extrinsics: str | Path | None = None) -> list[CalibratedCamera]:
    """OpenCV-style YAML (``cv2.FileStorage``) or JSON (module docstring); ``extrinsics``: R/t per camera from a second file."""
    path = Path(path)
    entries = _camera_entries(_load_structured(path), path)
    poses: dict[str, dict[str, Any]] = {}
    if extrinsics is not None:
        ext_path = Path(extrinsics)
        if not ext_path.is_file():
            raise FileNotFoundError(f"{ext_path}: no such extrinsics file")
        poses = {name: d for name, d in _camera_entries(_load_structured(ext_path), ext_path)}
        missing = [name for name, _ in entries if name not in poses]
        if missing:
            raise CalibrationError(f"{ext_path}: no extrinsics for camera(s) {missing} of {path} (have {sorted(poses)})")
    cameras = []
    for name, d in entries:
        where = f"{path}: camera {name!r}"
        d = {**d, **{k: v for k, v in poses.get(name, {}).items() if k not in _K_KEYS and k not in _DIST_KEYS}}
        try:
            K = _matrix(_first(d, _K_KEYS, where), (3, 3), where, "K")
            dist_value = next((d[k] for k in _DIST_KEYS if k in d), [])
            dist = np.asarray(dist_value, dtype=np.float64).reshape(-1)
            if "R" in d:
                R = _matrix(d["R"], (3, 3), where, "R")
                if R.size == 3:
                    R = rodrigues_to_matrix(R)
            elif "rvec" in d or "rotation" in d:
                R = rodrigues_to_matrix(_matrix(d.get("rvec", d.get("rotation")), (3,), where, "rvec"))
            else:
                raise CalibrationError(f"{where} has no rotation (R as 3 x 3 or rvec as a Rodrigues vector)")
            t = _matrix(_first(d, _T_KEYS, where), (3,), where, "t")
            width, height = _image_size(d, where)
            cameras.append(CalibratedCamera(name=name, width=width, height=height, K=K, dist=dist, R=R, t=t))
        except (TypeError, ValueError) as err:
            if isinstance(err, CalibrationError):
                raise
            raise CalibrationError(f"{where}: {err}") from None
    return cameras


def _load_structured(path: Path) -> Any:
    """A JSON or (OpenCV FileStorage) YAML document."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such calibration file")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise CalibrationError(f"{path}: not valid JSON ({err})") from None
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def opencv_matrix(loader: yaml.SafeLoader, node: yaml.Node) -> np.ndarray:
        m = loader.construct_mapping(node, deep=True)
        return np.asarray(m["data"], dtype=np.float64).reshape(int(m["rows"]), int(m["cols"]))

    _Loader.add_constructor("tag:yaml.org,2002:opencv-matrix", opencv_matrix)
    text = re.sub(r"^%YAML[: ]?1\.\d+\s*\n", "", text)  # FileStorage writes "%YAML:1.0", which PyYAML rejects
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise CalibrationError(f"{path}: not valid YAML ({err})") from None


def _camera_entries(doc: Any, path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, fields)]`` of a document holding one camera or ``cameras`` (list or mapping)."""
    if not isinstance(doc, dict):
        raise CalibrationError(f"{path}: expected a mapping with a camera's K/dist/R/t, or 'cameras'")
    if "cameras" in doc:
        cams = doc["cameras"]
        if isinstance(cams, dict):
            items = [(str(k), v) for k, v in cams.items()]
        elif isinstance(cams, list):
            items = [(str(v.get("name", f"camera{i}")) if isinstance(v, dict) else f"camera{i}", v) for i, v in enumerate(cams)]
        else:
            raise CalibrationError(f"{path}: 'cameras' must be a list or a mapping of name -> camera")
    else:
        items = [(str(doc.get("name", path.stem)), doc)]
    for name, d in items:
        if not isinstance(d, dict):
            raise CalibrationError(f"{path}: camera {name!r} is not a mapping of K/dist/R/t")
    if not items:
        raise CalibrationError(f"{path}: no cameras")
    return items


def _first(d: dict[str, Any], keys: Iterable[str], where: str) -> Any:
    keys = tuple(keys)
    for k in keys:
        if k in d:
            return d[k]
    raise CalibrationError(f"{where} has none of {', '.join(keys)}")


def _matrix(value: Any, shape: tuple[int, ...], where: str, what: str) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.size == math.prod(shape):
        return a.reshape(shape)
    if what == "R" and a.size == 3:
        return a.reshape(3)
    raise CalibrationError(f"{where}: {what} must have shape {shape}, got {list(a.shape)}")


def _image_size(d: dict[str, Any], where: str) -> tuple[int, int]:
    if "width" in d and "height" in d:
        return int(d["width"]), int(d["height"])
    if "image_width" in d and "image_height" in d:
        return int(d["image_width"]), int(d["image_height"])
    for key in ("size", "image_size", "imageSize"):
        if key in d:
            w, h = np.asarray(d[key], dtype=np.float64).reshape(-1)[:2]
            return round(w), round(h)
    raise CalibrationError(f"{where} has no image size (width/height, image_width/image_height or size = [W, H])")


def write_opencv_calibration(cameras: Sequence[CalibratedCamera], path: str | Path) -> Path:
    """Write ``cameras`` as OpenCV-style JSON (``.json``) or ``cv2.FileStorage`` YAML (``.yml`` / ``.yaml``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"cameras": [c.to_json() for c in cameras]}, indent=1) + "\n")
        return path
    if path.suffix.lower() not in (".yml", ".yaml"):
        raise CalibrationError(f"{path}: write OpenCV calibrations as .json, .yml or .yaml")

    def matrix(a: np.ndarray, indent: str) -> str:
        rows, cols = (a.shape[0], a.shape[1]) if a.ndim == 2 else (a.size, 1)
        data = ", ".join(repr(float(x)) for x in a.reshape(-1))
        return f"!!opencv-matrix\n{indent}rows: {rows}\n{indent}cols: {cols}\n{indent}dt: d\n{indent}data: [ {data} ]"

    lines = ["%YAML:1.0", "---", "cameras:"]
    for c in cameras:
        lines += ["   -", f"      name: \"{c.name}\"", f"      width: {c.width}", f"      height: {c.height}",
                  f"      K: {matrix(c.K, ' ' * 9)}", f"      R: {matrix(c.R, ' ' * 9)}", f"      t: {matrix(c.t, ' ' * 9)}"]
        if c.dist.size:
            lines.append(f"      dist: {matrix(c.dist, ' ' * 9)}")
    path.write_text("\n".join(lines) + "\n")
    return path


# Images ---------------------------------------------------------------------------------------


def undistort_image(image: np.ndarray, camera: CalibratedCamera) -> np.ndarray:
    """The frame as the pinhole camera ``camera.K`` without distortion would see it (same size, same K),
    bilinear (kornia's ``undistort_image``); ``image`` is ``[H, W, C]`` or ``[H, W]``, uint8 or float."""
    if image.shape[:2] != (camera.height, camera.width):
        raise ValueError(f"camera {camera.name!r} is calibrated for {camera.width}x{camera.height}, "
                         f"the image is {image.shape[1]}x{image.shape[0]}")
    if not camera.has_distortion:
        return image.copy()
    from kornia.geometry.calibration import undistort_image as kornia_undistort

    x = torch.from_numpy(np.array(image, dtype=np.float32))  # float32: the sampling map is exact to ~1e-4 pixel
    x = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    dist = torch.from_numpy(camera.dist8()).float()[None]
    out = kornia_undistort(x, torch.from_numpy(camera.K.copy()).float()[None], dist)[0]
    out = out[0] if image.ndim == 2 else out.permute(1, 2, 0)
    if image.dtype == np.uint8:
        return out.round().clamp(0, 255).to(torch.uint8).numpy()
    return out.numpy().astype(image.dtype)


def undistort_pixels(pixels: np.ndarray, camera: CalibratedCamera, iterations: int = 10) -> np.ndarray:
    """Distorted OpenCV pixel coordinates ``[N, 2]`` -> where the undistorted image (same K) shows them."""
    if not camera.has_distortion:
        return np.asarray(pixels, dtype=np.float64).copy()
    from kornia.geometry.calibration import undistort_points

    p = torch.from_numpy(np.asarray(pixels, dtype=np.float64))[None]
    K = torch.from_numpy(camera.K.copy())[None]
    out = undistort_points(p, K, torch.from_numpy(camera.dist8())[None], num_iters=iterations)
    return out[0].numpy()


__all__ = [
    "PIXEL_CENTRE_SHIFT",
    "CalibratedCamera",
    "CalibrationError",
    "matrix_to_rodrigues",
    "read_calibration",
    "read_opencv_calibration",
    "read_pose2sim_toml",
    "read_qualisys_qca",
    "rodrigues_to_matrix",
    "undistort_image",
    "undistort_pixels",
    "write_opencv_calibration",
]
