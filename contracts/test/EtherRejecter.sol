// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title An account that refuses ether, for the TransferFailed tests
/// @notice Forwards arbitrary calls with their value (so it can act as a requester or a staker),
/// but has neither `receive` nor `fallback`: every plain ether transfer to it reverts, so a
/// withdrawal paid to it fails.
contract EtherRejecter {
    /// @notice A forwarded call failed.
    /// @param returned Its revert data.
    error ForwardFailed(bytes returned);

    /// @notice Call `to` with `data` and `msg.value`, reverting with its revert data on failure.
    /// @param to The callee.
    /// @param data The calldata.
    /// @return returned The return data.
    function forward(address to, bytes calldata data)
        external
        payable
        returns (bytes memory returned)
    {
        bool ok;
        (ok, returned) = to.call{value: msg.value}(data);
        if (!ok) revert ForwardFailed(returned);
    }
}
