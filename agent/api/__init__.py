"""The aiohttp application: routes per area, one error middleware, the screens."""
