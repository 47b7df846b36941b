"""The seed's unit test: the network answers one probability per row."""

from __future__ import annotations

import numpy as np

from pipeline.config import TrainConfig
from pipeline.training import data
from pipeline.training.model import build_model, fit_scaler, model_inputs


def test_output_shape_and_range(sample_csv) -> None:
    frame = data.load_dataset(sample_csv).head(64)
    model = build_model(fit_scaler(frame), TrainConfig())
    predictions = model.predict(model_inputs(data.features_of(frame)), verbose=0)
    assert predictions.shape == (64, 1)
    assert ((predictions >= 0) & (predictions <= 1)).all()


def test_article_architecture(sample_csv) -> None:
    frame = data.load_dataset(sample_csv).head(64)
    model = build_model(fit_scaler(frame), TrainConfig())
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [(layer.units, layer.activation.__name__) for layer in dense] == [(64, "relu"), (32, "relu"), (1, "sigmoid")]
    assert model.loss == "binary_crossentropy"
    assert model.optimizer.__class__.__name__ == "Adam"


def test_scaler_lives_in_the_model(sample_csv) -> None:
    frame = data.load_dataset(sample_csv).head(200)
    scaler = fit_scaler(frame)
    layer = build_model(scaler, TrainConfig()).get_layer("standard_scaler")
    np.testing.assert_allclose(np.asarray(layer.mean).reshape(-1), scaler.mean_, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.variance).reshape(-1), scaler.var_, rtol=1e-5)


def test_encoded_view_is_the_same_network(sample_csv) -> None:
    from pipeline.training.model import encoded_features, encoded_view, one_hot_offsets

    frame = data.load_dataset(sample_csv).head(300).reset_index(drop=True)
    frame.loc[0, "PaymentMethod"] = "Bitcoin"  # out of vocabulary: the lookups' slot 0 in both
    config = TrainConfig(steps_per_execution=1)
    model = build_model(fit_scaler(frame), config)
    view = encoded_view(model, config)
    numeric, positions = encoded_features(frame)  # what training feeds the view
    assert positions[0, -1] == one_hot_offsets()[-1] and (positions[1:, -1] > one_hot_offsets()[-1]).all()

    def both() -> tuple[np.ndarray, np.ndarray]:
        raw = model.predict(model_inputs(data.features_of(frame)), verbose=0)
        return raw, view.predict([numeric, positions], verbose=0)

    before = both()
    np.testing.assert_allclose(before[0], before[1], rtol=1e-6, atol=1e-7)
    view.fit([numeric, positions], data.labels_of(frame), batch_size=64, epochs=1, verbose=0)
    after = both()
    np.testing.assert_allclose(after[0], after[1], rtol=1e-6, atol=1e-7)
    assert np.abs(after[0] - before[0]).max() > 1e-4  # fitting the view trained the model
    assert model.optimizer is view.optimizer and model.optimizer.iterations.numpy() == 5
