from models.train_classifier.cli import main

main()
