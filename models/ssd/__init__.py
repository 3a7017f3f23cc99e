"""The `coco` SSD made for this CPU: its frozen graph cut before the post-processing loops (graph_cut), box
decoding and NMS for the kept classes in numpy (postprocess), the detector callables (detector), and the int8
build of the cut (build: `python -m models.ssd.build`)."""
