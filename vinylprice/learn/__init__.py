"""Learn: improve recognition from data (fine-tuning the embedding, retraining from feedback)."""
