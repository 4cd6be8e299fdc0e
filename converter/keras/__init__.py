"""The Keras 3 front end: a safe reader (:mod:`.reader`) and one mapper per layer type (:mod:`.mappers`)."""
