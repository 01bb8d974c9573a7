# Names and addresses of netns-setup/netns-teardown (sourced, not run).
NS_MID=mitogen-mid
NS_FAR=mitogen-far
VETH_ROOT=mitogen-r0     # root namespace end of root <-> mid
VETH_MID_R=mitogen-m0    # mid end of root <-> mid
VETH_MID_F=mitogen-m1    # mid end of mid <-> far
VETH_FAR=mitogen-f0      # far end of mid <-> far
ROOT_ADDR=10.254.76.1
MID_ADDR=10.254.76.2
MID_FAR_ADDR=10.254.77.1
FAR_ADDR=10.254.77.2
FAR_NET=10.254.77.0/30
