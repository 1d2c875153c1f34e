// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title A hostile account for reentrancy tests
/// @notice Forwards arbitrary calls (so it can act as a requester or a staker), and when it
/// receives ether while armed it calls back into a target with prepared calldata, recording the
/// outcome instead of reverting, so the outer call completes and the test can inspect both.
contract ReentrantCaller {
    /// @notice Emitted when the receive hook attempted a re-entry.
    /// @param succeeded Whether the re-entrant call succeeded.
    /// @param returned Its return or revert data.
    event ReentryAttempted(bool succeeded, bytes returned);

    /// @notice A forwarded call failed.
    /// @param returned Its revert data.
    error ForwardFailed(bytes returned);

    address private _target;
    bytes private _attack;
    bool private _armed;

    /// @notice Whether the last re-entry attempt succeeded.
    bool public reentered;
    /// @notice Revert data of the last re-entry attempt.
    bytes public reentryError;
    /// @notice Number of payments received.
    uint256 public paymentsReceived;

    /// @notice Prepare one re-entrant call into `target` on the next payment.
    /// @param target The contract to call back.
    /// @param attack The calldata.
    function arm(address target, bytes calldata attack) external {
        _target = target;
        _attack = attack;
        _armed = true;
    }

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

    receive() external payable {
        paymentsReceived += 1;
        if (!_armed) return;
        _armed = false;
        (bool ok, bytes memory returned) = _target.call(_attack);
        reentered = ok;
        reentryError = returned;
        emit ReentryAttempted(ok, returned);
    }
}
