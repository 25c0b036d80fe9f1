"""Ways to give the embedded server a public hostname for carrier webhooks."""

from getpatter.tunnels.cloudflare import CloudflareTunnel
from getpatter.tunnels.static import Ngrok, Static

__all__ = ["CloudflareTunnel", "Ngrok", "Static", "Tunnel"]

#: Any tunnel directive accepted by ``Patter(tunnel=...)``.
Tunnel = CloudflareTunnel | Static | Ngrok
