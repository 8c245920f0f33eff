"""Photo to body fit: image reading and the crop (photo), person detection and landmarks (detection),
one person observed (observe), the SMPLify-style fitter (fitter, points), its agreement with the
detections (agreement), and a photo's fit with its overlay (photo_fit)."""
