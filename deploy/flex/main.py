"""Flex Template entry point: the launcher runs this file with the template's parameters."""
from pipeline.run import main

if __name__ == "__main__":
    main()
