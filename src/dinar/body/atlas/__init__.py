"""UV atlases of a body model: its own, and the paper's front cut (DINAR 3.1).

The neural texture lives in UV space, and the diffusion model of paper 3.3 inpaints it there as a
plain 2D image. Wherever the atlas has a seam, two texels that touch on the body lie far apart in
the image, and nothing makes the inpainted colours meet. On the front this does not matter: the
front is sampled from the photo, so both sides of a seam get the photo's colours. On the back,
which diffusion has to invent, a seam shows. DINAR therefore uses "a customized UV-map with a front
cut to avoid difficult to inpaint back-view seams" (3.1). Anny's own atlas does the opposite: it
cuts the torso along the spine and the arms along their backs.

:func:`front_cut_atlas` keeps Anny's small charts (head, hands, feet, eyes, mouth) and re-cuts the
one big chart that holds the torso, arms and legs: its back seams are closed, and new cuts run down
the front mid-line (neck to crotch), from the crotch down the front-inner side of each leg, and from
the front mid-line across the chest, through the armpit and down the front-inner side of each arm.
The cuts end on the holes of the chart (neck, wrists, ankles), so the chart becomes one disk. It
is flattened with libigl: a Tutte embedding, then SLIM (symmetric Dirichlet energy, whose line
search keeps every triangle positively oriented), with every step checked for parts of the border
coming closer than a texel or crossing; where they would, the border there is pinned and the step
redone, so the chart relaxes everywhere else. All charts are then packed into the unit square,
each at the texel density Anny's artists gave it (the face keeps its extra resolution).

Anny, front cut vs native (``atlas_stats``): within-chart area distortion 0.18 vs 0.44 (body
chart alone 0.11 vs 0.45), seam length on the back of the torso 0 vs 0.97 m, no flips and no
overlaps in either; the head, hands and feet keep Anny's seams (the back of the head among them).

Conventions: ``face_uvs [F, 3, 2]`` per face corner, in ``[0, 1]``, ``v`` up (texel row
``(1 - v) * S``, see :mod:`dinar.geometry.texture_lookup`); faces are counter-clockwise in UV, as
they are seen from outside the body in 3D. Modules: :mod:`.mesh` (the atlas type, topology), :mod:`.cut`,
:mod:`.flatten`, :mod:`.pack` (the front cut), :mod:`.build` (atlases by name, the cache), :mod:`.report`
(statistics and drawings).
"""

from dinar.body.atlas.build import front_cut_atlas, load_atlas, native_atlas
from dinar.body.atlas.mesh import ATLAS_NAMES, ATLAS_VERSION, DEFAULT_ATLAS, UVAtlas

__all__ = ["ATLAS_NAMES", "ATLAS_VERSION", "DEFAULT_ATLAS", "UVAtlas", "front_cut_atlas", "load_atlas", "native_atlas"]
