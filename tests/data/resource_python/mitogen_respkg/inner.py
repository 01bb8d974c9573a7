VALUE = "from a resource"
