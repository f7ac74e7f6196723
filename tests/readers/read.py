"""Prints, as JSON, what python-dotenv reads from the env file named on the command line."""
import json
import sys

from dotenv import dotenv_values

values = dotenv_values(sys.argv[1])
print(json.dumps({"python-dotenv": values}))
