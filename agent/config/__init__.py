"""The agent's configuration: pydantic models validated once at load, and the generated
reference.
"""
