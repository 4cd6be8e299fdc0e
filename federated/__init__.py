"""Federated learning over a fleet of simulated Core ML devices, on Flower.

Each device trains its copy of an updatable ``.mlmodel`` in the project's Core ML runtime (MLUpdateTask's
semantics, the model's own update parameters); the server averages the updatable layers' weights and
biases (FedAvg, FedAdam, FedYogi) and keeps the global model as an ``.mlmodel``. Flower carries the
messages: its simulation engine on one machine (:func:`federated.app.simulate`), its deployment engine
(SuperLink and SuperNodes as separate processes) through ``federated/flower_app``.

Modules: ``exchange`` (the arrays devices and server exchange), ``partition`` (IID, shards, Dirichlet),
``device`` (one device's training), ``server`` (strategies, global model), ``app`` (Flower apps and
engines), ``report`` (report.json and the chart).
"""
