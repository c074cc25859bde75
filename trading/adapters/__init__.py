"""Trading platform adapters: one interface (base.PlatformAdapter) and one module per platform.

mt5_web       MetaTrader 5 through the MT5 Web API (any OS; what the CRM runs against)
mt5_terminal  one MetaTrader 5 terminal through the Windows-only MetaTrader5 package (read-only)
"""
