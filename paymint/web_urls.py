"""Dashboard URLs (server-rendered pages)."""

from django.urls import path

urlpatterns: list = []
