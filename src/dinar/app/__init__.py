"""``dinar app``: the web app (Gradio) — drop a photo of a person, get their avatar in the browser.

Modules, one job each: :mod:`.settings` (what the server is started with), :mod:`.uploads` (the one
check of every uploaded file, and the app's temporary folder that removes them after a set time),
:mod:`.cache` (bounded in-memory caches and the result key), :mod:`.drawing` (numbered boxes on the
photo), :mod:`.jobs` (the work: people → fit → avatar → videos → GLB, cached by the photo's SHA-256
and the options), :mod:`.messages` (every failure as one line for the page), :mod:`.handlers` (the
page's events), :mod:`.ui` (the page) and :mod:`.server` (the offline, telemetry-free launch).
Gradio is imported only by :mod:`.handlers`, :mod:`.ui` and :mod:`.server`: it is the optional
``app`` extra.
"""
