"""Tools around the pipeline: data generator, traffic simulator, compatibility check, doctor, docs."""
