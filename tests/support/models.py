"""A small labelled data set made here, for the model tests."""
import csv
import random

from beam_pipelines.generator import text as texts

POSITIVE = ["thank you, sorted now", "great support, all fixed", "love the quick help, thanks"]
NEGATIVE = ["this is terrible", "worst service ever", "absolutely useless and frustrating"]


def write_fixture(path, count=600, seed=5):
    """A labelled CSV (text, category, sentiment) of ``count`` generated complaints, categories imbalanced towards
    Network, for training and evaluating the models."""
    rng = random.Random(seed)
    categories = ["Network", "Billing", "Customer Service", "Other"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category", "sentiment"])
        for number in range(count):
            category = categories[number % 4] if number % 3 else "Network"  # an imbalanced majority
            sentiment = "positive" if rng.random() < 0.3 else "negative"
            tail = rng.choice(POSITIVE if sentiment == "positive" else NEGATIVE)
            writer.writerow([f"{texts.core_sentence(category, rng)}, {tail} #{number}", category, sentiment])
