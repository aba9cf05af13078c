"""Map pages (folium + vendored Leaflet), served by the Wangge app."""
