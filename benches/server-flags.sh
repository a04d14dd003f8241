# The flags chat-server gets for a measurement: limits far above what a load
# generator asks (sourced by sitting.sh and threads.sh).
SERVER_FLAGS=(--open-chat --request-rate 100000000 --request-burst 100000000 --max-connections 200000
    --max-connections-per-address 200000 --registrations-per-address 100000000)
