"""Motions: pose sequences for a body model, what avatars are animated and exported with.

A :class:`Motion` is the body model's own parameterization over time (pose ``[T, J, 3]`` axis-angle
per bone, ``global_orient`` and ``transl`` per frame, at ``fps``), so the renderer and the GLB
exporter take it unchanged. Motions come from three places, all through :func:`load_motion`:

- ``builtin:NAME`` -- :data:`BUILTIN_MOTIONS`, made here by code for the default body (Anny):
  ``turntable`` (the A-pose held still: the camera orbits), ``walk`` (a walk cycle, in place unless
  ``in_place=False``), ``wave`` (right arm raised, waving), ``squat`` and ``dance`` (a side-to-side
  groove). Each loops: the frame after the last equals the first, and the soles stay on the floor.
- ``*.npz`` -- AMASS / SMPL-X / SMPL+H sequences, retargeted onto Anny (:mod:`dinar.motion.amass`).
- ``*.bvh`` -- mocap (CMU as converted by cgspeed, Mixamo), retargeted onto Anny
  (:mod:`dinar.motion.bvh`).

Anny's pose, as used here: bone ``c`` turns by ``D_c`` (its axis-angle) about its head, with the axes
of the fixed, world-aligned reference frame, so its rotation relative to the rest pose is
``E_c = E_parent @ D_c`` (the same rule as SMPL-X's, with Anny's A-pose as the rest). Built-in motions
are written as such world rotations -- limb directions, two-bone inverse kinematics for planted feet
-- and turned into ``D_c`` at the end. Retargeting (:func:`retarget`) takes a source skeleton's
rotations through the same rule: each Anny bone gets the rest-relative world rotation of the source
joint that drives it, corrected for the rest poses' difference (a T-pose's arms vs. Anny's A-pose).

The floor is the rest pose's: Anny's origin is at its hips and its soles are at ``z = floor`` of the
rest mesh (-0.816 m for the average body; Anny keeps it within about a centimetre for other shapes).
Motions are made for the average body and keep its soles there.

Modules: :mod:`.core` (Motion), :mod:`.loading`, :mod:`.builtin`, :mod:`.rig`, :mod:`.retarget`,
:mod:`.amass`, :mod:`.bvh`.
"""

from dinar.motion.builtin import BUILTIN_MOTIONS, builtin_motion
from dinar.motion.core import Motion, resample_motion
from dinar.motion.loading import load_motion

__all__ = ["BUILTIN_MOTIONS", "Motion", "builtin_motion", "load_motion", "resample_motion"]
