"""Cameras, the UV rasterizer, texture lookup and normals: pure geometry, no body model."""
