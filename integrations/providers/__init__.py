"""Payment providers: one package per provider (`stripe`, `polar`) behind one interface.

`interface` is what the gateway and the workers see of a provider; `readers` holds the
JSON and time readers every provider's payload readers share.
"""
