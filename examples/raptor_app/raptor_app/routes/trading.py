"""Trading-mode endpoints."""

from flask import Blueprint

trading_bp = Blueprint("trading", __name__, url_prefix="/trading")
