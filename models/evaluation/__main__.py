from models.evaluation.evaluate import run

run()
