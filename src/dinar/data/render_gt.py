"""Ground-truth rendering of a clothed synthetic person: geometry beyond the body mesh, lights, cameras.

The avatar model only ever has the bare body mesh; the ground truth has more, so the model has to
learn it through its neural texture (the reason DINAR has one):

- garment thickness: body vertices under a garment move out along their normals (a few mm, a
  jacket more), smoothed over the mesh so hems are soft steps;
- hair volume: an offset copy of the scalp faces (a shell) that tapers to the hairline;
- wide trousers: the trouser legs pushed out along the normals, more towards the ankle;
- a skirt: a loose cone-like shell of revolution around the legs, with its own small texture.

Everything is drawn by the project's rasterizer in one pass (body + shells are one mesh with
per-corner UVs; a per-face flag says which texture a face reads), shaded with ambient plus one
directional light of random direction and colour temperature, anti-aliased by supersampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.data.appearance import (
    BOTTOM,
    CAP,
    HAIR,
    SHOES,
    TOP,
    Appearance,
)
from dinar.data.painting import _pattern
from dinar.data.texture_bake import PersonTexture
from dinar.geometry.camera import Camera, intrinsics, look_at
from dinar.geometry.normals import face_normals, vertex_normals
from dinar.geometry.raster import rasterize

_HAIR_THICKNESS = {"buzz": 0.002, "short": 0.012, "medium": 0.02, "long": 0.022}
_SKIRT_RINGS, _SKIRT_SEGMENTS = 24, 72


@dataclass
class ClothedMesh:
    """The ground-truth geometry of one posed person (body + shells), in the body's local frame."""

    vertices: Tensor  # [N, 3]
    faces: Tensor  # [F, 3] int64
    face_uvs: Tensor  # [F, 3, 2] per-corner UVs into the texture the face reads
    face_texture: Tensor  # [F] int64: 0 the body atlas, 1 the skirt texture
    normals: Tensor | None = None  # [N, 3] unit vertex normals (computed once per pose)

    def rotated(self, R: Tensor) -> ClothedMesh:
        """The mesh turned by the rotation matrix ``R [3, 3]`` (e.g. the body's global orientation)."""
        normals = None if self.normals is None else self.normals @ R.T
        return ClothedMesh(self.vertices @ R.T, self.faces, self.face_uvs, self.face_texture, normals)


@dataclass
class Lighting:
    """Ambient plus one directional light, linear RGB."""

    direction: Tensor  # [3] unit vector towards the light, world frame
    colour: Tensor  # [3] directional light colour x intensity
    ambient: Tensor  # [3] ambient colour x intensity


def kelvin_to_rgb(kelvin: float) -> np.ndarray:
    """Approximate linear-ish RGB of a black body at ``kelvin`` (Tanner Helland's fit), max channel 1."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * math.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307)
    rgb = np.clip(np.array([r, g, b]), 0, 255) / 255.0
    return rgb / rgb.max()


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """A light from a random direction above the horizon, 2800-7500 K, with a dimmer ambient term."""
    az = rng.uniform(0, 2 * math.pi)
    el = math.radians(rng.uniform(15, 70))
    direction = torch.tensor([math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az), math.sin(el)], dtype=torch.float32)
    colour = kelvin_to_rgb(rng.uniform(2800, 7500)) * rng.uniform(0.75, 1.1)
    ambient = kelvin_to_rgb(rng.uniform(5000, 9000)) * rng.uniform(0.4, 0.6)
    return Lighting(direction=direction, colour=torch.tensor(colour, dtype=torch.float32), ambient=torch.tensor(ambient, dtype=torch.float32))


# Geometry -------------------------------------------------------------------------------------
def _vertex_neighbours(faces: Tensor, num_vertices: int) -> Tensor:
    """Sparse row-normalized adjacency ``[V, V]`` (each vertex averages its one-ring and itself)."""
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = torch.cat([e, e.flip(1), torch.arange(num_vertices).repeat(2, 1).T])
    val = torch.ones(e.shape[0])
    deg = torch.zeros(num_vertices).index_add_(0, e[:, 0], val)
    return torch.sparse_coo_tensor(e.T, val / deg[e[:, 0]], (num_vertices, num_vertices), check_invariants=False).coalesce()


def _smooth(adjacency: Tensor, values: Tensor, steps: int) -> Tensor:
    for _ in range(steps):
        values = torch.sparse.mm(adjacency, values)
    return values


@dataclass
class ShellPlan:
    """Pose-independent parts of the clothed geometry of one person (computed once per person)."""

    offset: Tensor  # [V] garment thickness along the normal, metres
    hair_faces: Tensor  # [H] indices of the scalp faces the hair shell copies
    hair_offset: Tensor  # [V] hair shell height per vertex (tapered at the hairline)
    skirt: bool
    skirt_length: float
    skirt_flare: float
    waist_z: float  # rest-pose waist height (pose changes leave the pelvis in place)


def plan_shells(faces: Tensor, person: PersonTexture, app: Appearance, rng: np.random.Generator) -> ShellPlan:
    """Thickness per vertex, which faces carry hair and how the skirt is cut."""
    labels = person.vertex_labels
    V = labels.shape[0]
    adjacency = _vertex_neighbours(faces, V)
    thick = torch.zeros(V)
    thick[labels == TOP] = 0.015 if app.top.kind == "jacket" else 0.005
    thick[labels == BOTTOM] = 0.006
    if app.bottom.kind == "wide_trousers":  # legs that widen from the knee down
        flare = float(rng.uniform(0.03, 0.06))
        thick += (labels == BOTTOM) * flare * ((person.vertex_limb - 0.45) / 0.5).clamp(0, 1) ** 1.5
    thick[labels == SHOES] = 0.008
    thick[labels == CAP] = 0.003
    thick = _smooth(adjacency, thick[:, None], 3)[:, 0]
    hair = (labels == HAIR).float()[:, None]
    taper = _smooth(adjacency, hair, 6)[:, 0]  # 1 inside the scalp, falling to 0 at the hairline
    hair_offset = _HAIR_THICKNESS[app.hair_style] * (taper.clamp(0, 1) ** 0.7) * (labels == HAIR)
    hair_faces = (labels[faces] == HAIR).all(1).nonzero()[:, 0] if app.hair_style != "buzz" else torch.zeros(0, dtype=torch.long)
    return ShellPlan(
        offset=thick, hair_faces=hair_faces, hair_offset=hair_offset, skirt=app.bottom.kind == "skirt",
        skirt_length=app.bottom.length * person.landmarks.scale, skirt_flare=float(rng.uniform(0.15, 0.45)), waist_z=person.landmarks.waist_z,
    )


def _ring_faces(rings: int, segments: int) -> Tensor:
    """Quads between ``rings`` rings of ``segments + 1`` vertices (the last duplicates the first), as triangles."""
    k, j = torch.meshgrid(torch.arange(rings - 1), torch.arange(segments), indexing="ij")
    a = k * (segments + 1) + j
    b, c, d = a + 1, a + segments + 1, a + segments + 2
    return torch.cat([torch.stack([a, c, b], -1), torch.stack([b, c, d], -1)]).reshape(-1, 3)


def skirt_shell(vertices: Tensor, lower_body: Tensor, plan: ShellPlan) -> tuple[Tensor, Tensor, Tensor]:
    """A loose skirt around the posed lower body: vertices ``[N, 3]``, faces ``[F, 3]``, UVs ``[F, 3, 2]``.

    Rings from the waist down to the hem; each ring's radius per angle clears the legs (the widest
    body point in that direction at that height or above) and flares outwards with depth.
    """
    K, M = _SKIRT_RINGS, _SKIRT_SEGMENTS
    pts = vertices[lower_body]
    top, length = plan.waist_z, plan.skirt_length
    waist = pts[(pts[:, 2] < top + 0.02) & (pts[:, 2] > top - 0.06)]
    centre = waist[:, :2].mean(0) if waist.shape[0] else pts[:, :2].mean(0)
    rel = pts[:, :2] - centre
    rho = rel.norm(dim=1)
    phi = torch.atan2(rel[:, 1], rel[:, 0])
    level = ((top - pts[:, 2]) / length * (K - 1)).round().long()
    inside = (level >= 0) & (level < K)
    jbin = ((phi + math.pi) / (2 * math.pi) * M).long().clamp(0, M - 1)
    radius = torch.zeros(K * M)
    radius.scatter_reduce_(0, (level * M + jbin)[inside], rho[inside], reduce="amax")
    radius = radius.view(K, M) + 0.012
    radius = F.max_pool1d(F.pad(radius[:, None], (3, 3), mode="circular"), 7, 1)[:, 0]  # clear neighbouring angles
    radius = torch.cummax(radius, 0).values  # never narrower than above: a cone, not a sock
    depth = torch.linspace(0, length, K)[:, None]
    # ...but no wider than a cone from the waist: a striding leg pushes through, as in a real skirt
    radius = torch.minimum(radius, radius[:1] + (plan.skirt_flare + 0.3) * depth) + plan.skirt_flare * depth
    radius = F.avg_pool1d(F.pad(radius[:, None], (2, 2), mode="circular"), 5, 1)[:, 0]
    radius = torch.cat([radius, radius[:, :1]], 1)  # [K, M + 1], seam column duplicated
    ang = torch.linspace(-math.pi, math.pi, M + 1)
    verts = torch.stack([centre[0] + radius * torch.cos(ang), centre[1] + radius * torch.sin(ang), (top - depth).expand(K, M + 1)], -1).reshape(-1, 3)
    faces = _ring_faces(K, M)
    uv = torch.stack(torch.meshgrid(torch.linspace(1, 0, K), torch.linspace(0, 1, M + 1), indexing="ij")[::-1], -1).reshape(-1, 2)
    return verts, faces, uv[faces]


def skirt_texture(app: Appearance, size: int = 256) -> Tensor:
    """The skirt's own texture ``[1, 3, S, S]``: u goes round (front at u = 0.25), v from hem (0) to waist (1)."""
    u = (torch.arange(size) + 0.5) / size
    v = 1 - (torch.arange(size) + 0.5) / size
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    cu = (uu * 2 * math.pi - math.pi) * 0.22
    cv = vv * app.bottom.length
    col = _pattern(app.bottom, cu.reshape(-1), cv.reshape(-1), 1 - vv.reshape(-1))
    return col.T.reshape(1, 3, size, size)


def clothed_mesh(
    body_faces: Tensor,  # [F, 3]
    body_face_uvs: Tensor,  # [F, 3, 2]
    vertices: Tensor,  # [V, 3] posed, body-local frame (before global_orient / transl)
    normals: Tensor,  # [V, 3]
    plan: ShellPlan,
    lower_body: Tensor,  # [V] bool: pelvis and legs (what a skirt must clear)
) -> ClothedMesh:
    """Body with garment thickness, plus the hair shell and the skirt."""
    verts = [vertices + normals * plan.offset[:, None]]
    faces = [body_faces]
    uvs = [body_face_uvs]
    which = [torch.zeros(body_faces.shape[0], dtype=torch.long)]
    n = vertices.shape[0]
    if plan.hair_faces.numel():
        used = body_faces[plan.hair_faces].unique()
        remap = torch.full((n,), -1, dtype=torch.long)
        remap[used] = torch.arange(used.numel()) + n
        verts.append(verts[0][used] + normals[used] * plan.hair_offset[used, None])
        faces.append(remap[body_faces[plan.hair_faces]])
        uvs.append(body_face_uvs[plan.hair_faces])
        which.append(torch.zeros(plan.hair_faces.numel(), dtype=torch.long))
        n += used.numel()
    if plan.skirt:
        sv, sf, suv = skirt_shell(verts[0], lower_body, plan)
        verts.append(sv)
        faces.append(sf + n)
        uvs.append(suv)
        which.append(torch.ones(sf.shape[0], dtype=torch.long))
    verts, faces = torch.cat(verts), torch.cat(faces)
    return ClothedMesh(vertices=verts, faces=faces, face_uvs=torch.cat(uvs), face_texture=torch.cat(which), normals=vertex_normals(verts[None], faces)[0])


# Cameras --------------------------------------------------------------------------------------
def frame_camera(points: Tensor, eye: Tensor, size: int, margin: float) -> Camera:
    """A camera at ``eye [3]`` that frames ``points [N, 3]`` like a photo: centred, ``margin`` of the image left free on the long side.

    The camera aims at the centre of the points' projection (principal point at the image centre) and
    the focal length makes their longer extent fill ``1 - 2 * margin`` of the image.
    """
    target = (points.amin(0) + points.amax(0)) / 2
    for _ in range(3):  # aim at the centre of the projected extent
        R, t = look_at(eye[None], target[None])
        cam = points @ R[0].T + t[0]
        xy = cam[:, :2] / cam[:, 2:3]
        mid = (xy.amin(0) + xy.amax(0)) / 2
        depth = float((target - eye).norm())
        target = target + (R[0, 0] * mid[0] + R[0, 1] * mid[1]) * depth
    R, t = look_at(eye[None], target[None])
    cam = points @ R[0].T + t[0]
    xy = cam[:, :2] / cam[:, 2:3]
    half = torch.maximum(xy.amax(0), -xy.amin(0)).amax()
    focal = (1 - 2 * margin) * size / 2 / float(half)
    return Camera(K=intrinsics(focal, size, size), R=R, t=t, width=size, height=size)


def sample_views(points: Tensor, num_views: int, front_azimuth: float, size: int, rng: np.random.Generator) -> Camera:
    """``num_views`` cameras around the person, with elevation, distance and framing jitter.

    View ``k`` looks from azimuth ``front_azimuth + 2 pi k / num_views`` (plus up to 10 degrees), measured
    like a turn about +Z: azimuth ``a`` puts the camera along ``(sin a, -cos a, 0)``, so with the subject
    turned by ``global_orient = (0, 0, a)`` view 0 faces it.
    """
    centre = (points.amin(0) + points.amax(0)) / 2
    cams = []
    for k in range(num_views):
        az = front_azimuth + 2 * math.pi * k / num_views + math.radians(rng.uniform(-10, 10))
        el = math.radians(rng.uniform(-5, 20))
        dist = rng.uniform(2.2, 4.5)
        direction = torch.tensor([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)], dtype=torch.float32)
        cams.append(frame_camera(points, centre + dist * direction, size, margin=float(rng.uniform(0.04, 0.12))))
    return Camera(K=torch.cat([c.K for c in cams]), R=torch.cat([c.R for c in cams]), t=torch.cat([c.t for c in cams]), width=size, height=size)


# Rendering ------------------------------------------------------------------------------------
def render_clothed(
    mesh: ClothedMesh,  # world frame
    textures: list[Tensor],  # [1, 3, T, T] sRGB albedo per texture id
    camera: Camera,  # batch 1
    lighting: Lighting,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    supersample: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """RGB ``[H, W, 3]`` and mask ``[H, W]``, both uint8, of the clothed person."""
    ss = supersample
    cam = camera.resized(camera.width * ss, camera.height * ss)
    H, W = cam.height, cam.width
    verts = mesh.vertices[None]
    r = rasterize(verts, mesh.faces, cam)
    # Shade only the covered pixels: gather their faces and barycentrics once.
    index = r.foreground_index  # [M]
    fid = r.face_id.view(-1)[index]
    bary = r.bary.permute(0, 2, 3, 1).reshape(-1, 3)[index]  # [M, 3]
    corners = mesh.faces[fid]  # [M, 3]
    uv = torch.einsum("mkc,mk->mc", mesh.face_uvs[fid], bary)  # [M, 2]
    which = mesh.face_texture[fid]
    albedo = torch.zeros(index.numel(), 3)
    for k, tex in enumerate(textures):
        sel = which == k
        if sel.any():
            grid = torch.stack([2 * uv[sel, 0] - 1, 1 - 2 * uv[sel, 1]], -1)[None, None]
            albedo[sel] = F.grid_sample(tex, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0].T
    normals = mesh.normals if mesh.normals is not None else vertex_normals(verts, mesh.faces)[0]
    n = F.normalize(torch.einsum("mkc,mk->mc", normals[corners], bary), dim=1, eps=1e-8)  # [M, 3]
    # two-sided lighting (the inside of a skirt): flip normals of faces seen from behind
    v0 = mesh.vertices[mesh.faces[:, 0]]
    back = (face_normals(verts, mesh.faces)[0] * (cam.center[0] - v0)).sum(1) < 0  # [F]
    n = torch.where(back[fid, None], -n, n)
    diffuse = (n @ lighting.direction).clamp_min(0)[:, None]
    shade = lighting.ambient * (0.75 + 0.25 * n[:, 2:3]) + lighting.colour * diffuse
    lit = ((albedo.clamp(0, 1) ** 2.2) * shade).clamp(0, 1) ** (1 / 2.2)
    rgb = torch.zeros(3, H * W)
    rgb[:, index] = lit.T
    rgb = rgb.view(1, 3, H, W)
    mask = r.mask
    if ss > 1:
        rgb = F.avg_pool2d(rgb, ss)
        mask = F.avg_pool2d(mask, ss)
    bg = torch.tensor(background, dtype=torch.float32)[None, :, None, None]
    rgb = rgb + bg * (1 - mask)
    rgb8 = (rgb[0].permute(1, 2, 0) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    mask8 = (mask[0, 0] * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    return rgb8, mask8
