//! Generates `test-vectors/workload.json`: a `workload-vectors/1` suite (the format of
//! `test-vectors/README.md`) for the issuer's token endpoint — workload identity tokens of
//! Kubernetes, SPIFFE, GitHub Actions, GCP, AWS and Azure exchanged for DPoP-bound access
//! tokens (MCP SEP-1933; RFC 7523, RFC 8693, RFC 8707, RFC 9449 §5, §8), the attacks a
//! token endpoint must refuse, and the answer each request gets per RFC 6749 §5.2.
//!
//! Regenerate with `cargo run --example generate_workload_vectors` (or pass another output
//! path as the first argument), then run `cargo run -- vectors test-vectors/`.
//!
//! Every vector spells out its whole configuration — the trusted issuers it needs with
//! their keys inline, and the policy rules for those issuers — so other implementations can
//! run the file as it is. Keys are fixed (the PKCS#8 constants below), the clock is fixed
//! (`NOW`), and ids, claims and order are stable; ECDSA signatures are randomized, so the
//! signature bytes change on every run. Workload tokens and DPoP proofs are assembled here
//! by hand (header and claims as JSON text, signed with the raw key), not with the library's
//! minters, so that a bug shared by minter and verifier cannot hide.

// A generator: any failure is a bug in this file, and panicking says where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::{Cell, RefCell};

use aws_lc_rs::hmac;
use mcp_warden::jose::{Algorithm, SigningKey, base64url_decode, base64url_encode};
use serde::Serialize;
use serde_json::{Value, json};

/// The token endpoint's clock in every vector (2025-11-28T00:00:00Z).
const NOW: u64 = 1_764_288_000;
/// Our issuer identifier and token endpoint.
const WARDEN: &str = "https://warden.example.com";
const TOKEN_ENDPOINT: &str = "https://warden.example.com/token";
/// The MCP resources tokens are issued for.
const MCP: &str = "https://mcp.example.com/mcp";
const BILLING: &str = "https://billing.example.com/mcp";
const NONCE: &str = "eyJ7S_zG.yH-n0nce-f1xed";
const DEFAULT_OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-vectors/workload.json");

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const CLIENT_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The trusted issuers' `iss` values.
const K8S_ISS: &str = "https://kubernetes.default.svc.cluster.local";
const GITHUB_ISS: &str = "https://token.actions.githubusercontent.com";
const GCP_ISS: &str = "https://accounts.google.com";
const AWS_ISS: &str = "https://7c9b5a3e-2f4d-4b8e-9a1c-3d5e6f7a8b9c.tokens.sts.global.api.aws";
const AZURE_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const AZURE_OID: &str = "a3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const CI_ISS: &str = "https://ci.example.com";
const TRUST_DOMAIN: &str = "prod.example";

// Fixed keys, PKCS#8 in base64url (made once with Python's `cryptography`): each trusted
// issuer's signing key, an attacker's key nobody trusts, another cluster's key (whose
// in-cluster issuer URL is the same default as ours), and the client's DPoP key.
const CLUSTER_RSA: &str = "\
    MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDl4ZdHIhAi3VkanXVQddOSmbj1bTIaWhXkWciMiiGd\
    yO8XXGNOhHjwzG5lvaGiYnd_V633n75lD1EIt6coQcY0K4pvgPpSn4t84qAum6QqtE2bEfhN-Fi49QyqPEWXBmj0SJLB\
    H8u45Pqyrg6YNEzDNfmXjiuJwU9kinoBmp7MUKAdr9AjF7Bjep_3ZZYVHaz6araU5wcownET4NDdPeBbK5H9w4O9J3_a\
    wOsf_xHWqTo0lHnvCiPJsWCL_A6pVTG9INoQZ4WigwsgouLgn_d_60EEcdlvFlA05lqNtrFjaWz8uvQQsRJikbMWOf0E\
    c1Xej4bQSYBkXWsCSyWex7NlAgMBAAECggEAAP8FRM2k_EGxTSg5heu8yvnXj1i1yt9xENhCwjknBCQGxTclRwXT8Fcy\
    c0ZrGOUMV4TtwBD1JkL2uu7wzn_aeAdoRits6ka-t__TaeBKydSWMYHWbaAR4ltNfr9cHddtRQG7gRK-M0LqwzN15Lr1\
    SjNFrZ50Gdi4m1ruRGuDHKeKr8jfNH6NOtjAfd29ovMMc-2N8l03eJpfeuE0IQ4gNfiNsDcph_UFTWILIpUXVj8kjwdM\
    F-KIT9hbRqNOqxzTDL9OouyKeL-V6vV5VR720gTfEuSm6HoGE4lrkzaqsn8Im4VgCsXhtIDj8BGA9RO8BK21Zll7qe5i\
    _nBlJTf-0QKBgQD2Jlxi1XnHZulcb8Dex3bYFEZo_zxmRgNZRotOXoOApbORkVciZNmTgiHm2dHi86a7ZGUcPr0bGrov\
    w_uz4wAPZbYTVM7vX6GOnXZZv4-0ityWqL0smS4jxfS-kk_ptMFWowcLRQxIcZWs2gIApg8HSM7n5CpB3W-qU_QU7J2P\
    UwKBgQDvFJGiJ_oaNHie6pa95Hh_SUpGcl1Bf7tpmj0p7HhUzgTts8TyXTcneald2c205GFRlp_uprkGik6EngLIXjny\
    DS4JOojoB1YRp8dQtKCKLwZ4F3ImaOXfTvJo7pBTQO1m-itKA5mKft7IE0HgzYr7SHo9hJDPR8jcyCFa9aSzZwKBgCtp\
    HIX5rB50kddRhixD9TuqZ7iAuwA2fMSz4kGR_ZMkpgSYI0vXiV-wZZY2-AMUgWUvEX3nuqYbEpb182AIOqx8fZ3vKQei\
    T_W843B0jj2C9-BCJgrFgROiB8XMO_e1fxtuaQGdzcrA7WqskAnZP3FDb-oJnUI8cUMSx0shZ7AtAoGBAMrhi4wtnIEs\
    UceZjv3pqY9qZEtPtW9ls2Yz6v9umdZtVaVZTiHVlH49Mcpgj72XqDYSOfnNJWo1Z9gGNppNy6JqKMzQDWnI__LPi8Yi\
    4bEhor26N7X8gkVzuyXsfDEKAevHE4EleOAcNXVXUiowgmYm5QTbP_-GDR-9_QAxP-i1AoGBAPXD_X-O0Zs-1jgvbfB9\
    vthxXQPTdj41gUhG0DQJWHkm9oCqLEl8wm4EYH5m4HLp7EhmE_tP4LSvjiyS3gYqOwbe3TvdQjR4AS0HY6uHAZUHOsJx\
    T4E1YAMYDFhMq0b-h0pf3qTdSk4YgNG3JXePIBtFzFI44217jyYvZvqy3aSp";
const GITHUB_RSA: &str = "\
    MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDXO1e9P69qu1NNLZNRevWe-D3-4CHEoZUid92Emb7F\
    X1HUU8dh3kC3pFr4JIX5bqLGozw7UjqGCJS5b2ZPorx4-qEgNSTsbZQXmTsCgkk-UNbP94SpxUq38u87m6Kfbt_NeSQO\
    RZO8OPbbnz0VdeJhhbhnjULCKejRlDESHIWGiTuIcK7mOzCdiOfeA1SSSvBuMyDl_JQiXDaow_2cyOuwcJCf2Tet-N4T\
    -yOwIty9xJyTZIqvqJ3L2xJUCdI5w-Gd_DSuIT56Byj451W9QzFUWDNr9l6Fzikr6C3Wc_Qis4uhSYSe-bMaJWkkIBPE\
    NsWQbx_6swbE-A7VrVM3setBAgMBAAECggEADPH5CD0rGg6Lx1XRKUKtwMK6CdkltsuoKmNOu8G6h2kBBTYHxTNmrZTx\
    UsDxnOvCVxOs1P2QXwznkxKn8uy9DMK4S7Vek-jQUi4JblBzQs_-Z5JB1Ks04AT4zhtBh_jVdaiOWlxlcxnzAQkeFasa\
    M1blXTcSF5cJNYfF_sqf3lRI8lUl1C-ZjuxwO5rG0ejO4lA0S4hqP0yCdGD6Ll7gZmaXoEy89C6QZtrRUkEMGU4Sye-1\
    g8Q8WeIDCc8Pwq2DJUS47psmOq7BAt6ZER1bcbC-wD2mrhkLTUvch4WEFD8kI4qQWHZxEZFAShsfnT4DAzcEomZ2R8BT\
    D2X-zb7QVQKBgQDz0xNU8vuVmfjXrXh-RSzNcLn8MNKAPbeVFQNs5vl8sHanUhqWSxIwH5m-kfzZEwZcPhlwj_Wy0kr4\
    8EvgkuKv74VkhZhAwaZdSPZTHPei7hVcXQGpLwvlyoCsm2S9JunWTUrplkuD425QuQTW2nHCWMP__5GDJY2sI0ijFlSu\
    5QKBgQDh-sDKAjkcf37oSzwDmuXwhPXp1c1dm-Mb2EZAk7XDLyCZ3aQNFn3BEfcZjHepJGRDSZ6Xz8yg9iExcosJx6jZ\
    TfaY3j-EAaumOMZtG2_wNGcmCIyCDEzZBqHJ6aF3U-ewL3-Dml4asLYZF-Z4sC_dQhcbaFjiixjTbaDdBlKpLQKBgHD3\
    bpGBMocRm3Vx7c2zBxr4C3OIuz6nWZM89SVTrmvS5maHZ8ISbg7V1UmyIdABPIUoUGkSieeb_xhvXPhjlZumAcudCfmW\
    vxmhYF8JoMJgRI1Smh5kqcKBnDRcmsP4b4bWsMqg08P7b3T_A_r3opVEwyqsoiJ9F7KVdmX5RqrxAoGBALOU4vpl897a\
    zw5pI2M2CH8wGoDeQFqglEW_hGyzNaHL5NuB0Gn6MqtozHaIM1u-KNN0QM0h_Nr5Xf1-qlF2Uo-GLm7jR5RvA2qP-dgh\
    Er7P1hzadFaw0a0yYQYlXQSIMDnKNUpvNVN-lOeyH5xPX2o0qEpGjURTB8KVf13GNZBtAoGBAL9UKevH-l0vsMdGcCMs\
    _UtZKmkMyTjEnY4IKmZa6-JSMqF-yXCnUUC9xxS4aNju2y7h3ipDObHDkdXUa-lIkk0K84dNX1AoH8NzPt-Cj4co9oe0\
    sfwdj7Wi2ok_EOzq8Hc1XS_JfoqyKG2zXXv6MxaSWzGLQ0d_yDROMLL1-Oo7";
const GCP_RSA: &str = "\
    MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDbT-gXMAR76p_I2xF082pIQN2c-JH8KEqUOvbTFDOQ\
    cMOJHinI2FIVoPAaH3r7jzvDpVlCxBRaocTw8hTNME0dL4ez6drLXBONFINenZP0qUMZ-HkT-rb_id2Yc-1T8z8jI9Uc\
    6CVnbI5psR7Vb17V16POfI1SRklk0i1xoHE65RFc7eZiC6AMnSSWI3XBg7F-2OKxeMlzki2gLjcSHLDDyB4csKGNp2cO\
    r_Gqvu2lV35D5JD_fVQOKhC6HLIEGBRCqDI0mY0t-7JsZAsGyFgvnfy3hCt0JzUZTK-Yqdnee8Wwxhc5zeuK1D7rc3wA\
    pNy3-U10AKjY9rnpTmY-eEtxAgMBAAECggEAGgdcT4WKlV3DKWFdVjOI7YVhUql_w10m03vst8rsfxvwYRw8L6hY6ano\
    Wo6vl8lSpFrsrUtnR7BubChXHAPmYGyNNGcGFDUGjwEcbFooaWpor92Ob-FwNFjw_Ls5iMlUY3_JDH1oPw5NGAcxASTk\
    LQjDBL_skpNhT5QlrO2ICB9XvJ2_IgQsqGlr42Xp2BrcybzXnxF6YyM9hVRYJafJM9McnYRQplKKkQ0VPSwSCvhoLwE0\
    OrkSSgaUMQQCLqa25OGzPyTffW96UaZw_gYhfgHYsvRAQZzFyOX20Qt0_kXlw42P9LLEJe7jpG8VZ8GHe1Fss0hSrJwi\
    kTRHBYedJwKBgQD7x0cxT-DHCwGy3rVeeohTikYp3smicwwJ51v6ThO95tN3ZgLA8N--bG6HlmyyJc13yQsuvqmYL7lT\
    ca-rwNLtyFpPiNXHUabXTsawuSrvsJ_7De3_OhI0XqMqQ8Nocpn1sL5907POBNe9gAGPW6sigfc0yb66XxDodXULF7of\
    EwKBgQDe_UWOtUcdKPfWKS7CUAxLCcwovtAJ_cFPrhL_zlrzINVILytQHa0NcTMl7kwEDM6udqJx5QYZzGL8WI1OJOrG\
    tEx3SaG7OECGJFpqKxBDBT4hRq-O1QinLHitSCSbuRlGSi6d6m5SZuYtZOHqOaN41F1tplAQPyp5PbDghnLH6wKBgQDh\
    q3MXMuZg4W-rWEyuGxvX7QcIfmSyE3ZF5jYdux-cxajiyu9K6ltRPbUwGFbisllgtTUtt70g6B2vOiXfxxwH_t1bjmU2\
    muv07enO-pkOb3xlNM4ORomMoQqUVlpuYtG2Uq3a8AaocNTCSFqdmOdiLaVajj1CpPTttmGrCKBNOwKBgQDRcomECqd6\
    L0HiyZne7_sr_E7kMp4L1Gpfojy8Q6JP3ZYXkB6ZyNYD20DUruh9oV38pvfcDOdXEhAjwDUxoiFXdICiRun_hU2t8bVv\
    JXXHzcPW06MQgO74vx-2ex3PmuOvjvwMXeczxO0M1EYSkAMI-kerN1zadco6SQS7T-298wKBgQCoRIJ-hXWl2XD33_zq\
    IEGFpS4WF_h7Hv5Qhbc3OGnxwK7RGXUH4biZjYlSib31ytVy-grgWy66MUHiznBPNGaSf-2u8ovRPKOgHdYB1bbzDM8-\
    C9_D36iH3g_36DtBfoBIB1eUttwykHuQa25EEqdasGyfj5hV9qj1TK6LzYZp8g";
const AZURE_RSA: &str = "\
    MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQD5nZWibWk85pAO7Hjvj9DOGI2p4KQc-Nb7MrMg0HGS\
    6wQCBzjouQ02PfPtuOpAk5BL5JX63SrCaPPG7FwJkAuzpa3LiVh_5Vv2rwZS_qiIgrDJ3-983dPnLXVwbKyRlE0B4TE2\
    bdZZHbI2auYSO6OpIMoh5FloS_4jrTrXvlDRzefGQR6g5lpPpNstxkiWMG1CG8sMPNluBV8DKjGvu-RkgaaUa0u54uGk\
    HIKZPmTgQtf9MUeSjrk4TUt4wX9TqApVsqJzLR-ybEtMsW2yF3NYn_3MoPgdAShOB_PGQkhG_TYkGJP41yH8IdOwpWCB\
    sU-7GxvYcCpTMDyU2TdS663PAgMBAAECggEAF_b9Kr7-X45zPjuN0NIp5d-NmkWq--0YFr3jXL8maEiP9fHjkNRTZGXG\
    SYh7VP_V1rN3gsJBHLEe1nZSz8g4l2LMsMHa8Ux_68sZ_FXesFx7xKXvRDm34nYG1GhamQ935TpNk0AwWBX1yiuxMwbu\
    y4oOXfqiatUA7UPwZk4rTDkcAT6Wjm1Eis9sT7QZOXzO1X3y2bvlgtPi4FwrRVyOsEGIpvVAoAJPH3cLJL9GHmKftrVh\
    nIaCJ5RsjfPsDwmrtV_bj_2TyOMW58qNRgRjv11NmR22q9uNlKS5goCoXF3Zobqr0XvTB8XpYfuYCF7Xbr7pX8s4xukV\
    t-Ij-dSRoQKBgQD9-EfbMN00tOKRqlZyhzAsBdFT2CLI99nvXkfvc24FaPt6IumR9lPyxnx5JXrdWHFl-Ofa0Ui_Sy9V\
    bmdiXYqx2hsX3Xx8DexS1Pg6GJkfhi2OudsHrp4iJB-VSdqNkze2aYmnrhQK3JKEknT_eASE3x6YntPDm429DitRGaNr\
    5QKBgQD7nGSvImmyiikEDmfS5uH4jpvTKwn7rpX3M6a1Zc-9lh_E6qze0ZkPBG7xsyLx5i5Jw6HId2GyZUgbYBmVb52k\
    CTLtDWzIfFjrflY1XdxSsV3jgFRZ06_xz_pYqJWB3LGQBT8dRbtB8SOGIWd30uAQxpI7_qwqFsP_kW0hykRfowKBgE8x\
    oJaFAjVxQkVR7GsCJM9VcRTIDPDF-LtflubgA6rENca8JEFTopHNuvq76TgkYBgAKaxeHmUoOLZXGv3dVWZoMJKcijjU\
    zqB1sIHNMdJWsNYUtmwK01yqDv8qbHBBO9oxxq725WENrtKQKNOQxTf5qzzEKhyQ4P3W8UL0z7TRAoGBANKiimdTF8kv\
    gEa1CJW2U1YRjMGrNiBMd58KznTtVowQMWhYTX_7V3cK7xXIMWjwma-G5tk7l74Qq9y_BqvjVMUOLmPk6TytXINIsELc\
    4KUZdtANjo_kd1aoFZxDBWZBqyQ2QC_xQGJjzKltLYFSN-HTWnh_KwHRLSO2SvYOrk6hAoGBAN19Bi7N5S_c2ig5UM80\
    e3tN_3R6r_Z8zluHp8LIPd3HuY_L_N6rRA5qCnoJRkaarfLZqkT2XAfeV0umhcVd8urzbcIubmIvApGbrEAwywWWmCkS\
    yAbHNi_9QW0RjMDc3hdCJAKncOG4Em_Q1pkvT9nkmff2y3FzEAg_YGHl4-0G";
const AWS_ES384: &str = "\
    MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDA5IHBG1RNex57Mq2yTGdRSA4y0zfF-VP1OKLDEDg0dxOlo\
    PvIutjG1cB29hyLRFHuhZANiAASK3mXXkZOHS0T726xUwud7Y64eZupSi5pKw-UdICuNGvcxhbIw33kvHg74-CHqWqk-\
    Y5XrN2bcCNyYo9slctf_rwrD_6FuOnZxrj7V8HUWGSwkhoCaW3rhs9ERfWLeQ4k";
const SPIRE_ES256: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgufc6OvAxA0Mv0IvG-ZaNqgNut3RxcAMkZXXQ2W0Kx96h\
    RANCAATBLaxtYDx43_M2vbKWSUwnMznZCXXC3Wul4BUkWw3tvlRUrSRGz4gC7m2MvyT_-wHHtk7qzibTHM2pfplQGlDC";
const CI_ES256: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjF0KxDJmYl6hvFza0zwcfazeDwgjHGR8oyxcX1nkCxuh\
    RANCAARR9vjk2QuLPEYS5e2GLZuClG6RyjyYGM2S9-DZ5rHaWvRWI9CGVtifno-eFIBVjtT1-vxnBjzCgQdetYoUbxj4";
const ATTACKER_ES256: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgk8gGa-KvfqMpmqNxMO_ZWuwrljlRlQtTUXGdfn9nAFqh\
    RANCAATstT0o9S3B55-X3DVOrsm7YPoFpPuf-tcoP7ZUxCd0pwmI4wy5xCj4puBiLjoR-YKQ3Fk_HtkDV-0qS3_69fpy";
const CLIENT_ES256: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg-blfr8ab1NIgG5aBsIhe1q7fmgUAq7zpVCvoNqoAgOKh\
    RANCAAQIyEXNP6fZBlz488XgRJiEEeK7Tt-n_IhHzA9lo5za8vcVHO2AmKmO0ztB2Tey48fAkjbIRq85LwdPKbgC3bw-";
const OTHER_CLUSTER_RSA: &str = "\
    MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDN4Cju6T-IaDWNXNiMuDTjGBhSbLIXdq5UJGC5N5ah\
    cQeN32zyQIKti_5B2W8EQ8rYOHDrtBPYJ6pzXeM2UBP7hnBNVuUgOktMfmhmk5UZPpAht-zouUo3Qpax4ua2WOzOCpfM\
    TNmP6wr_K6sr18GcL6YYp77bHPCxPP3yPq_ncVB0W2bxUGC7SHH6P7tnqTknGtf39UaDqRQugum0W1SUG6aRX5swphGe\
    73oIFV-BCpeROsOIfrlXdYBHBugKIwU6Y1bImU4MZvSU2IGn4nC9xk-ZVIHQ2-rmuQw-1FftXtk-CgMSLFMcg8N5aVAs\
    RYkqCwD6HjekLkQOc-iOgpiXAgMBAAECggEAAaItsPeY0XRCOITsEvHDOaoPR1glcZo3d-NyAQY348AJ105WhvWME-Rw\
    eAVJpDcFfQG1o6kiHyzxZUjxbJTmE7DVY0e1ObQ8tLasDWROYozkh9_1uUL_G8EjgPXT7s510oyy96QEdeffhnbKPObR\
    WnPmVXu_P-3S2xUozqtAqg1wdQgu-DSkLlP6M_QtF4T-oXL862o5C1bNz5NEuaXBrLZhUwL0hDewjQuLKXD84SJXswP0\
    NUgD307I-nulbcFz4aaehhAMPxUx1QCdeeOonRXxO_Y2XyzNtQxyPolIhW7JkjQhc4TzszPRKjUH9IxoHR4yrFW6LVzt\
    uRHVWQcnQQKBgQD8udR5cjLuyjHIzJOSYWx91U9PeNvy2_bjZHfJ4W3PRdMhAYpCocrfJJ3htVu8_gliS1Z3NCUaHKoV\
    KSeIhqqiucGdohpVpC6OC7byYilUmVuvSR36kEANsZEwXcXIW4z5CoH7KB0DtBKb72aMwEkOMDdZDWcbZ65s6uXnelj_\
    ZQKBgQDQivM8Ev-3X0mZdVzgUApxQT6NOKD6RU8ptdHeY23avIiA8DAptCuOq4DBMSytSE-RKIYoRnSfkCHsdi4vj9Ya\
    FQ_qC6FHmrX7HZZ-SRpW2kvyFWiUWp1mJFd38wM1nfnANKmtgIHo7pZjlrbeNqOJ-qhvig59LS-NSyhiIbNOSwKBgFFN\
    CtBi74WoICnjvhmaI8e7Rn9fdwqCvsLaQDr-vU-vu8LjdvIGkHgGlI_WwwNiiexIJjHE4aarz_9stN4TzHL65RFr46Ln\
    ZV6m4BzLfVZM25ThJbbEjwaYuAdiM01IPmqjebstZWAant3xPwFKnnXlBvkr-Z50VUWOr5Uu49CNAoGBAI4wv6oNVjgk\
    i11L7Xiwen5AOzM1EmWyjkhlRWR5rPSAqh4oJt64jx5nB5IyQkEgVcgmtlqNt4T4VHkTF2isjRIZnFE7fssAzOYchXkz\
    xPbFPxUfzb-hjUKQsucBVgXf4eNQxQSc43b7_qSGpccbwCQbOW9b1Yc6IPsY7L8ENWrDAoGBAJs1LDGfd63oL8dpHtBx\
    iZ7mlEsivzEQ1g65WowrZY8stb-YjndYYM56zXglAXvEcjozAOulcI2FP9sPEavrVddWveiK0I50eexROH8b8UsrsfBH\
    7VejH-LV-llB9OAbdBcHmePbQJSyG-bqljv0I1s75XmQR8S0rucMykMzt2Bo";

// ---------------------------------------------------------------------------------------
// The file format (`test-vectors/README.md`); field order is the order written.

#[derive(Serialize)]
struct VectorFile {
    format: &'static str,
    description: String,
    vectors: Vec<Vector>,
}

#[derive(Serialize)]
struct Vector {
    id: String,
    description: String,
    now: u64,
    config: Config,
    requests: Vec<Request>,
}

#[derive(Serialize, Clone)]
struct Config {
    issuer: &'static str,
    token_endpoint: &'static str,
    trusted_issuers: Vec<Value>,
    policy: Value,
    nonce: Option<&'static str>,
}

#[derive(Serialize)]
struct Request {
    form: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    expect: Expect,
}

#[derive(Serialize, Clone, Default)]
struct Expect {
    accept: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Vec<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf_jkt: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
}

/// A DPoP-bound token for `aud` with exactly `scope` (RFC 9449 §5, §6.1).
fn issued(scope: &'static str, aud: &'static str) -> Expect {
    Expect {
        accept: true,
        token_type: Some("DPoP"),
        scope: Some(scope),
        aud: Some(aud),
        cnf_jkt: Some(true),
        ..Expect::default()
    }
}

impl Expect {
    fn sub(mut self, sub: &str) -> Self {
        self.sub = Some(sub.into());
        self
    }

    fn expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = Some(seconds);
        self
    }

    fn act(mut self, act: Value) -> Self {
        self.act = Some(act);
        self
    }

    fn issued_token_type(mut self, kind: Value) -> Self {
        self.issued_token_type = Some(kind);
        self
    }

    /// An unbound Bearer token instead (no `cnf`).
    fn bearer(mut self) -> Self {
        self.token_type = Some("Bearer");
        self.cnf_jkt = Some(false);
        self
    }
}

/// A refusal with this status and `error` code.
fn refuse(status: u16, error: &'static str) -> Expect {
    Expect {
        accept: false,
        status: Some(vec![status]),
        error: Some(vec![error]),
        ..Expect::default()
    }
}

/// RFC 7523 §3.1: an invalid JWT authorization grant is `invalid_grant`.
fn bad_grant() -> Expect {
    refuse(400, "invalid_grant")
}

/// RFC 6749 §5.2: a missing, repeated or malformed parameter.
fn bad_request() -> Expect {
    refuse(400, "invalid_request")
}

/// RFC 9449 §5: the token endpoint answers a bad or missing proof with 400.
fn bad_proof() -> Expect {
    refuse(400, "invalid_dpop_proof")
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// A jwt-bearer grant (RFC 7523 §2.1) with `assertion`, then the `extra` fields.
fn grant(assertion: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form = pairs(&[("grant_type", JWT_BEARER), ("assertion", assertion)]);
    form.extend(pairs(extra));
    form
}

/// A token exchange (RFC 8693 §2.1) of `subject` (a JWT), then the `extra` fields.
fn exchange(subject: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form = pairs(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", JWT_TYPE),
    ]);
    form.extend(pairs(extra));
    form
}

/// `client_credentials` authenticated by a workload token (RFC 7523 §2.2).
fn client_credentials(assertion: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form = pairs(&[
        ("grant_type", "client_credentials"),
        ("client_assertion_type", CLIENT_ASSERTION),
        ("client_assertion", assertion),
    ]);
    form.extend(pairs(extra));
    form
}

fn request(form: Vec<(String, String)>, headers: &[(&str, &str)], expect: Expect) -> Request {
    Request {
        form,
        headers: pairs(headers),
        expect,
    }
}

// ---------------------------------------------------------------------------------------
// JOSE by hand.

fn key(alg: Algorithm, pkcs8: &str, kid: &str) -> SigningKey {
    SigningKey::from_pkcs8(alg, &base64url_decode(pkcs8).unwrap())
        .unwrap()
        .with_kid(kid)
        .unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64url_encode(bytes.as_ref())
}

/// A compact JWS of the exact header and payload texts, signed by `sign`.
fn assemble(header: &str, payload: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = b64(sign(input.as_bytes()));
    format!("{input}.{signature}")
}

/// A compact JWS signed by `key`, whatever `alg` the header claims.
fn jws(key: &SigningKey, header: &Value, payload: &Value) -> String {
    assemble(&header.to_string(), &payload.to_string(), |input| {
        key.sign(input).unwrap()
    })
}

/// The public JWK (with `kid`), as a JWKS publishes it.
fn public(key: &SigningKey) -> Value {
    key.public_jwk().to_json()
}

fn del(object: &mut Value, name: &str) {
    object.as_object_mut().unwrap().remove(name);
}

// ---------------------------------------------------------------------------------------
// Keys, issuers, policy, tokens and proofs.

struct Ctx {
    cluster: SigningKey,
    github: SigningKey,
    gcp: SigningKey,
    azure: SigningKey,
    aws: SigningKey,
    spire: SigningKey,
    ci: SigningKey,
    attacker: SigningKey,
    other_cluster: SigningKey,
    client: SigningKey,
    /// The vector being built and a counter, for readable unique `jti`s.
    id: RefCell<String>,
    seq: Cell<u32>,
}

impl Ctx {
    fn load() -> Self {
        Ctx {
            cluster: key(Algorithm::RS256, CLUSTER_RSA, "k8s-2025"),
            github: key(Algorithm::RS256, GITHUB_RSA, "gh-1"),
            gcp: key(Algorithm::RS256, GCP_RSA, "g-1"),
            azure: key(Algorithm::RS256, AZURE_RSA, "az-1"),
            aws: key(Algorithm::ES384, AWS_ES384, "aws-1"),
            spire: key(Algorithm::ES256, SPIRE_ES256, "spire-1"),
            ci: key(Algorithm::ES256, CI_ES256, "ci-1"),
            attacker: key(Algorithm::ES256, ATTACKER_ES256, "k8s-2025"),
            other_cluster: key(Algorithm::RS256, OTHER_CLUSTER_RSA, "k8s-2025"),
            client: key(Algorithm::ES256, CLIENT_ES256, "client"),
            id: RefCell::default(),
            seq: Cell::new(0),
        }
    }

    fn jti(&self) -> String {
        self.seq.set(self.seq.get() + 1);
        format!("{}-{}", self.id.borrow(), self.seq.get())
    }

    /// A trusted issuer as configured, every field spelled out.
    fn issuer(&self, name: &str) -> Value {
        let audiences = json!([WARDEN, format!("{WARDEN}/"), TOKEN_ENDPOINT]);
        let jwks = |key: &SigningKey| json!({"keys": [public(key)]});
        match name {
            "cluster" => json!({
                "name": "cluster", "platform": "kubernetes", "iss": K8S_ISS,
                "jwks": jwks(&self.cluster), "algorithms": ["RS256"], "audiences": audiences,
                "required_claims": ["sub", "aud", "exp", "iat"],
                "max_lifetime_s": 3600, "leeway_s": 30, "single_use_jti": false,
            }),
            "spire" => {
                let mut authority = public(&self.spire);
                authority["use"] = json!("jwt-svid");
                json!({
                    "name": "spire", "platform": "spiffe", "trust_domain": TRUST_DOMAIN,
                    "iss_optional": true,
                    "jwks": {"keys": [authority], "spiffe_sequence": 7, "spiffe_refresh_hint": 300},
                    "algorithms": ["ES256"], "audiences": audiences,
                    "required_claims": ["sub", "aud", "exp"],
                    "max_lifetime_s": 3600, "leeway_s": 30, "single_use_jti": false,
                })
            }
            "github" => json!({
                "name": "github", "platform": "github-actions", "iss": GITHUB_ISS,
                "jwks": jwks(&self.github), "algorithms": ["RS256"], "audiences": audiences,
                "required_claims": ["sub", "aud", "exp", "iat", "jti", "repository", "repository_owner"],
                "max_lifetime_s": 3600, "leeway_s": 30, "single_use_jti": true,
            }),
            "gcp" => json!({
                "name": "gcp", "platform": "gcp", "iss": GCP_ISS,
                "jwks": jwks(&self.gcp), "algorithms": ["RS256"], "audiences": audiences,
                "required_claims": ["sub", "aud", "exp", "iat"],
                "max_lifetime_s": 3600, "leeway_s": 30, "single_use_jti": false,
            }),
            "aws" => json!({
                "name": "aws", "platform": "aws", "iss": AWS_ISS,
                "jwks": jwks(&self.aws), "algorithms": ["ES384", "RS256"], "audiences": audiences,
                "required_claims": ["sub", "aud", "exp", "iat"],
                "max_lifetime_s": 3600, "leeway_s": 30, "single_use_jti": false,
            }),
            "azure" => json!({
                "name": "azure", "platform": "azure",
                "iss": format!("https://login.microsoftonline.com/{AZURE_TENANT}/v2.0"),
                "jwks": jwks(&self.azure), "algorithms": ["RS256"], "audiences": audiences,
                "required_claims": ["sub", "aud", "exp", "iat"],
                "max_lifetime_s": 5400, "leeway_s": 30, "single_use_jti": false,
            }),
            "ci" => json!({
                "name": "ci", "platform": "generic", "iss": CI_ISS,
                "jwks": jwks(&self.ci), "algorithms": ["ES256"], "audiences": audiences,
                "required_claims": ["sub", "aud", "exp"],
                "max_lifetime_s": 3600, "leeway_s": 30, "single_use_jti": false,
            }),
            other => panic!("no issuer {other}"),
        }
    }

    /// A Kubernetes projected service-account token (the shape of a 1.30 TokenRequest
    /// token), after `edit` changed its header and claims.
    fn k8s(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        self.k8s_by(&self.cluster, edit)
    }

    fn k8s_by(&self, key: &SigningKey, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({"alg": key.alg().name(), "kid": "k8s-2025"});
        let mut claims = json!({
            "aud": [WARDEN], "exp": NOW + 3000, "iat": NOW - 600, "nbf": NOW - 600,
            "iss": K8S_ISS, "jti": self.jti(),
            "kubernetes.io": {
                "namespace": "payments",
                "node": {"name": "node-a", "uid": "0c8f6f0e-6a3b-4f61-9d0f-6f1e0b7d4a21"},
                "pod": {"name": "agent-7d9f8-x2k4q", "uid": "5b2e3c1d-8a9f-4e6b-b7c8-d9e0f1a2b3c4"},
                "serviceaccount": {"name": "agent", "uid": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"},
            },
            "sub": "system:serviceaccount:payments:agent",
        });
        edit(&mut header, &mut claims);
        jws(key, &header, &claims)
    }

    /// A valid token of the cluster's `payments/agent`.
    fn agent(&self) -> String {
        self.k8s(|_, _| {})
    }

    /// A SPIFFE JWT-SVID as SPIRE issues it without `jwt_issuer`: no `iss`, no `kid`.
    fn svid(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({"alg": "ES256", "typ": "JWT"});
        let mut claims = json!({
            "aud": [WARDEN], "exp": NOW + 300, "iat": NOW - 10,
            "sub": format!("spiffe://{TRUST_DOMAIN}/ns/payments/sa/agent"),
        });
        edit(&mut header, &mut claims);
        jws(&self.spire, &header, &claims)
    }

    /// A GitHub Actions OIDC token requested with `audience: https://warden.example.com`.
    fn gha(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({"alg": "RS256", "kid": "gh-1", "typ": "JWT"});
        let mut claims = json!({
            "jti": format!("{}-gha", self.jti()),
            "sub": "repo:example-org/mcp-agent:ref:refs/heads/main",
            "aud": WARDEN,
            "ref": "refs/heads/main", "sha": "d6f1e2b3c4a5968778695a4b3c2d1e0f9a8b7c6d",
            "repository": "example-org/mcp-agent", "repository_id": "741852963",
            "repository_owner": "example-org", "repository_owner_id": "96385274",
            "repository_visibility": "private", "run_id": "9876543210", "run_number": "42",
            "run_attempt": "1", "actor": "octocat", "actor_id": "583231",
            "workflow": "deploy", "event_name": "push", "ref_type": "branch",
            "job_workflow_ref": "example-org/mcp-agent/.github/workflows/deploy.yml@refs/heads/main",
            "runner_environment": "github-hosted",
            "iss": GITHUB_ISS, "nbf": NOW - 600, "iat": NOW - 300, "exp": NOW + 300,
        });
        edit(&mut header, &mut claims);
        jws(&self.github, &header, &claims)
    }

    /// A Google-signed ID token of a service account (no `jti`).
    fn gcp(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({"alg": "RS256", "kid": "g-1", "typ": "JWT"});
        let mut claims = json!({
            "aud": WARDEN, "azp": "108729456810457238291",
            "email": "mcp-agent@example-project.iam.gserviceaccount.com",
            "email_verified": true,
            "exp": NOW + 3000, "iat": NOW - 600, "iss": GCP_ISS,
            "sub": "108729456810457238291",
        });
        edit(&mut header, &mut claims);
        jws(&self.gcp, &header, &claims)
    }

    /// An AWS STS outbound web identity token (GetWebIdentityToken): `sub` is the role ARN,
    /// the AWS context under the `https://sts.amazonaws.com/` claim, signed ES384.
    fn aws(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({"alg": "ES384", "kid": "aws-1", "typ": "JWT"});
        let mut claims = json!({
            "iss": AWS_ISS, "aud": WARDEN,
            "sub": "arn:aws:iam::123456789012:role/mcp-agent",
            "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 240,
            "jti": format!("{}-aws", self.jti()),
            "https://sts.amazonaws.com/": {
                "aws_account": "123456789012", "source_region": "us-east-1",
                "principal_id": "arn:aws:iam::123456789012:role/mcp-agent",
                "org_id": "o-a1b2c3d4e5",
            },
        });
        edit(&mut header, &mut claims);
        jws(&self.aws, &header, &claims)
    }

    /// A Microsoft Entra v2.0 token of a managed identity (`tid`, `oid`; `sub` = `oid` for
    /// app-only tokens), living 75 minutes.
    fn azure(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({"alg": "RS256", "kid": "az-1", "typ": "JWT"});
        let mut claims = json!({
            "aud": WARDEN,
            "iss": format!("https://login.microsoftonline.com/{AZURE_TENANT}/v2.0"),
            "iat": NOW - 600, "nbf": NOW - 600, "exp": NOW + 3900,
            "azp": "5f3c2b1a-0e9d-4c8b-a7f6-e5d4c3b2a190", "azpacr": "2",
            "oid": AZURE_OID, "sub": AZURE_OID, "tid": AZURE_TENANT,
            "uti": "Xy9aB3cD4eF5gH6iJ7kL8m", "ver": "2.0",
        });
        edit(&mut header, &mut claims);
        jws(&self.azure, &header, &claims)
    }

    /// A token of the generic, ES256-only CI issuer.
    fn ci(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({"alg": "ES256", "kid": "ci-1", "typ": "JWT"});
        let mut claims = json!({
            "iss": CI_ISS, "sub": "ci-runner", "aud": WARDEN,
            "iat": NOW - 30, "exp": NOW + 570, "jti": format!("{}-ci", self.jti()),
        });
        edit(&mut header, &mut claims);
        jws(&self.ci, &header, &claims)
    }

    /// A DPoP proof for `POST TOKEN_ENDPOINT` at `NOW` (RFC 9449 §4.2, §5), after `edit`.
    fn proof_with(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({
            "typ": "dpop+jwt", "alg": "ES256",
            "jwk": Value::Object(self.client.public_jwk().public_members()),
        });
        let mut claims = json!({
            "jti": format!("proof-{}", self.jti()), "htm": "POST", "htu": TOKEN_ENDPOINT, "iat": NOW,
        });
        edit(&mut header, &mut claims);
        jws(&self.client, &header, &claims)
    }

    fn proof(&self) -> String {
        self.proof_with(|_, _| {})
    }

    /// One request with a fresh valid proof.
    fn dpop(&self, form: Vec<(String, String)>, expect: Expect) -> Request {
        request(form, &[("dpop", &self.proof())], expect)
    }
}

/// The resources tokens can be issued for, and one rule per trusted issuer.
fn resources() -> Value {
    json!([
        {"name": "tools", "uri": MCP, "scopes": ["tools:list", "tools:call", "resources:read"]},
        {"name": "billing", "uri": BILLING, "scopes": ["invoices:read", "invoices:write"]},
    ])
}

fn rules(issuer: &str) -> Vec<Value> {
    match issuer {
        "cluster" => vec![json!({
            "name": "payments-agent", "issuer": "cluster",
            "claims": {"kubernetes.io.namespace": "payments", "kubernetes.io.serviceaccount.name": "agent"},
            "grants": [{"resource": "tools", "scopes": ["tools:list", "tools:call"], "default_scopes": ["tools:list"]}],
            "token_lifetime_s": 300,
        })],
        "spire" => vec![json!({
            "name": "spiffe-payments", "issuer": "spire",
            "subject": format!("spiffe://{TRUST_DOMAIN}/ns/payments/sa/*"),
            "grants": [{"resource": MCP, "scopes": ["tools:list", "tools:call"]}],
        })],
        "github" => vec![json!({
            "name": "gha-deploy", "issuer": "github",
            "claims": {"repository": "example-org/mcp-agent", "ref": "refs/heads/main"},
            "grant_types": ["jwt-bearer"],
            "grants": [{"resource": "tools", "scopes": ["tools:call"]}],
            "token_lifetime_s": 120,
        })],
        "gcp" => vec![json!({
            "name": "gcp-agent", "issuer": "gcp",
            "claims": {"email": "mcp-agent@example-project.iam.gserviceaccount.com", "email_verified": true},
            "grants": [{"resource": "tools", "scopes": ["tools:list"]}],
        })],
        "aws" => vec![json!({
            "name": "aws-agent", "issuer": "aws",
            "subject": "arn:aws:iam::123456789012:role/mcp-agent",
            "claims": {"https://sts.amazonaws.com/.aws_account": "123456789012"},
            "grants": [{"resource": "tools", "scopes": ["tools:list", "tools:call"]}],
        })],
        "azure" => vec![json!({
            "name": "azure-billing", "issuer": "azure",
            "claims": {"tid": AZURE_TENANT, "oid": AZURE_OID},
            "grants": [{"resource": "billing", "scopes": ["invoices:read"]}],
        })],
        "ci" => vec![json!({
            "name": "ci-bearer", "issuer": "ci", "subject": "ci-runner", "allow_bearer": true,
            "grants": [{"resource": "tools", "scopes": ["tools:list"]}],
        })],
        other => panic!("no rules for {other}"),
    }
}

struct Suite {
    k: Ctx,
    vectors: Vec<Vector>,
}

impl Suite {
    /// The configuration trusting `issuers`, with their rules.
    fn cfg(&self, issuers: &[&str]) -> Config {
        Config {
            issuer: WARDEN,
            token_endpoint: TOKEN_ENDPOINT,
            trusted_issuers: issuers.iter().map(|name| self.k.issuer(name)).collect(),
            policy: json!({
                "resources": resources(),
                "rules": issuers.iter().flat_map(|name| rules(name)).collect::<Vec<_>>(),
            }),
            nonce: None,
        }
    }

    /// Adds a vector; `build` makes its requests (with `jti`s derived from `id`).
    fn add(
        &mut self,
        id: &str,
        config: Config,
        about: &str,
        build: impl FnOnce(&Ctx) -> Vec<Request>,
    ) {
        assert!(self.vectors.iter().all(|v| v.id != id), "duplicate id {id}");
        self.k.id.replace(id.into());
        self.k.seq.set(0);
        let requests = build(&self.k);
        self.vectors.push(Vector {
            id: id.into(),
            description: about.into(),
            now: NOW,
            config,
            requests,
        });
    }

    /// One request with a valid proof: the form `build` makes, answered `expect`.
    fn one(
        &mut self,
        id: &str,
        issuers: &[&str],
        expect: Expect,
        about: &str,
        build: impl FnOnce(&Ctx) -> Vec<(String, String)>,
    ) {
        let config = self.cfg(issuers);
        self.add(id, config, about, |k| vec![k.dpop(build(k), expect)]);
    }

    /// One request with the form and the proof `build` makes.
    fn with_proof(
        &mut self,
        id: &str,
        issuers: &[&str],
        expect: Expect,
        about: &str,
        build: impl FnOnce(&Ctx) -> (Vec<(String, String)>, String),
    ) {
        let config = self.cfg(issuers);
        self.add(id, config, about, |k| {
            let (form, proof) = build(k);
            vec![request(form, &[("dpop", &proof)], expect)]
        });
    }
}

/// `header.claims.` with an empty signature, `alg` set to `name` (RFC 7518 §3.6).
fn unsecured(mut header: Value, claims: &Value, name: &str) -> String {
    header["alg"] = json!(name);
    assemble(&header.to_string(), &claims.to_string(), |_| Vec::new())
}

/// The claims of a valid cluster token, for tokens signed some other way.
fn agent_claims(k: &Ctx) -> Value {
    json!({
        "aud": [WARDEN], "exp": NOW + 3000, "iat": NOW - 600, "nbf": NOW - 600,
        "iss": K8S_ISS, "jti": k.jti(),
        "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "agent"}},
        "sub": "system:serviceaccount:payments:agent",
    })
}

const AGENT: &str = "system:serviceaccount:payments:agent";

// ---------------------------------------------------------------------------------------
// The vectors, one function per id prefix. Hand-formatted as tables: id, trusted issuers
// and expectation on the first line, the rule on the second, then the request.

#[rustfmt::skip]
fn k8s_vectors(s: &mut Suite) {
    let c = &["cluster"];
    s.one("k8s-accepted", c, issued("tools:list tools:call", MCP).sub(AGENT).expires_in(300),
        "SEP-1933, RFC 7523 §2.1, §3: a Kubernetes projected service-account token (aud = the issuer identifier) for payments/agent, with a DPoP proof, is exchanged for a DPoP-bound token (RFC 9449 §5, §6.1: token_type DPoP, cnf.jkt = the proof key's thumbprint) for the one resource asked for (RFC 8707 §2), living the rule's 300 s.",
        |k| grant(&k.agent(), &[("resource", MCP), ("scope", "tools:list tools:call")]));
    s.one("k8s-aud-token-endpoint", c, issued("tools:list", MCP),
        "RFC 7523 §3 item 3: aud may name the token endpoint URL (what the SEP-1933 text says) instead of the issuer identifier.",
        |k| grant(&k.k8s(|_, c| c["aud"] = json!([TOKEN_ENDPOINT])), &[("resource", MCP)]));
    s.one("k8s-aud-issuer-trailing-slash", c, issued("tools:list", MCP),
        "RFC 7523 §3 item 3 (and RFC 7523bis): the issuer identifier with a trailing slash is the same audience.",
        |k| grant(&k.k8s(|_, c| c["aud"] = json!(format!("{WARDEN}/"))), &[("resource", MCP)]));
    s.one("k8s-aud-among-several", c, issued("tools:list", MCP),
        "RFC 7519 §4.1.3: aud is an array; one of its values naming this issuer suffices.",
        |k| grant(&k.k8s(|_, c| c["aud"] = json!(["https://vault.example.com", WARDEN])), &[("resource", MCP)]));
    s.one("k8s-wrong-audience", c, bad_grant(),
        "RFC 7523 §3 item 3: a token for the API server (aud https://kubernetes.default.svc) is not for this issuer: invalid_grant (RFC 7523 §3.1).",
        |k| grant(&k.k8s(|_, c| c["aud"] = json!(["https://kubernetes.default.svc"])), &[("resource", MCP)]));
    s.one("k8s-audience-is-the-resource", c, bad_grant(),
        "RFC 7523 §3 item 3: a token whose aud is the MCP resource itself was meant for that server, not for this issuer; forwarding it must not mint a token.",
        |k| grant(&k.k8s(|_, c| c["aud"] = json!([MCP])), &[("resource", MCP)]));
    s.one("k8s-expired", c, bad_grant(),
        "RFC 7523 §3 item 4, RFC 7519 §4.1.4: a token that expired an hour ago is refused.",
        |k| grant(&k.k8s(|_, c| { c["iat"] = json!(NOW - 7200); c["nbf"] = json!(NOW - 7200); c["exp"] = json!(NOW - 3600); }), &[("resource", MCP)]));
    s.one("k8s-expired-at-leeway", c, bad_grant(),
        "RFC 7519 §4.1.4 with the issuer's 30 s leeway: exp = now - 30 is expired (the token is refused at and after exp + leeway).",
        |k| grant(&k.k8s(|_, c| c["exp"] = json!(NOW - 30)), &[("resource", MCP)]));
    s.one("k8s-expired-within-leeway", c, issued("tools:list", MCP).expires_in(1),
        "RFC 7519 §4.1.4 (\"some small leeway\"): exp = now - 29 is within the 30 s leeway and accepted; the issued token never outlives the identity it was exchanged for, so it gets the 1 s minimum.",
        |k| grant(&k.k8s(|_, c| c["exp"] = json!(NOW - 29)), &[("resource", MCP)]));
    s.one("k8s-iat-future-beyond-leeway", c, bad_grant(),
        "RFC 7523 §3 items 5-6, RFC 7519 §4.1.5: iat and nbf 31 s in the future, beyond the 30 s leeway, are refused.",
        |k| grant(&k.k8s(|_, c| { c["iat"] = json!(NOW + 31); c["nbf"] = json!(NOW + 31); }), &[("resource", MCP)]));
    s.one("k8s-iat-future-within-leeway", c, issued("tools:list", MCP),
        "RFC 7519 §4.1.5: iat and nbf 30 s ahead (a node clock slightly fast) are within the leeway.",
        |k| grant(&k.k8s(|_, c| { c["iat"] = json!(NOW + 30); c["nbf"] = json!(NOW + 30); }), &[("resource", MCP)]));
    s.one("k8s-other-namespace", c, bad_grant(),
        "Trust policy: the rule names namespace payments; the same service-account name in namespace billing matches no rule: invalid_grant (RFC 6749 §5.2).",
        |k| grant(&k.k8s(|_, c| { c["kubernetes.io"]["namespace"] = json!("billing"); c["sub"] = json!("system:serviceaccount:billing:agent"); }), &[("resource", MCP)]));
    s.one("k8s-other-service-account", c, bad_grant(),
        "Trust policy: the rule names service account agent; the namespace's default account matches no rule.",
        |k| grant(&k.k8s(|_, c| { c["kubernetes.io"]["serviceaccount"]["name"] = json!("default"); c["sub"] = json!("system:serviceaccount:payments:default"); }), &[("resource", MCP)]));
    s.one("k8s-claims-flattened", c, bad_grant(),
        "Trust policy: the rule reads the nested claims kubernetes.io.namespace and .serviceaccount.name; a token carrying both the nested member and a flat \"kubernetes.io.namespace\" member is ambiguous and matches nothing (an attacker-influenced member must not choose what the rule reads).",
        |k| grant(&k.k8s(|_, c| c["kubernetes.io.namespace"] = json!("payments")), &[("resource", MCP)]));
    s.one("k8s-lifetime-too-long", c, bad_grant(),
        "RFC 7523 §3 item 4 (\"MAY reject JWTs with an exp claim value that is unreasonably far in the future\"): a 24 h token is over the issuer's 3600 s maximum lifetime.",
        |k| grant(&k.k8s(|_, c| c["exp"] = json!(NOW + 86_400 - 600)), &[("resource", MCP)]));
    s.one("k8s-lifetime-at-maximum", c, issued("tools:list", MCP),
        "RFC 7523 §3 item 4: exp - iat = 3600 s, exactly the issuer's maximum, is accepted (the base token).",
        |k| grant(&k.agent(), &[("resource", MCP)]));
    s.one("k8s-missing-iat", c, bad_grant(),
        "Kubernetes preset, RFC 7523 §3 item 6: projected tokens always carry iat, so the preset requires it; a token without it is refused.",
        |k| grant(&k.k8s(|_, c| del(c, "iat")), &[("resource", MCP)]));
    s.one("k8s-missing-exp", c, bad_grant(),
        "RFC 7523 §3 item 4: exp is required.",
        |k| grant(&k.k8s(|_, c| del(c, "exp")), &[("resource", MCP)]));
    s.one("k8s-token-lifetime-cut", c, issued("tools:list", MCP).expires_in(120),
        "A token never outlives the identity it was exchanged for: the workload token expires in 120 s, so the rule's 300 s is cut to 120 (expires_in, RFC 6749 §5.1).",
        |k| grant(&k.k8s(|_, c| c["exp"] = json!(NOW + 120)), &[("resource", MCP)]));
    s.one("k8s-legacy-secret-token", c, bad_grant(),
        "RFC 7523 §3 item 1: a legacy Secret-based service-account token (iss kubernetes/serviceaccount, no exp) is from no trusted issuer.",
        |k| grant(&k.k8s(|_, c| { c["iss"] = json!("kubernetes/serviceaccount"); del(c, "exp"); }), &[("resource", MCP)]));
    s.one("k8s-other-cluster-same-iss", c, bad_grant(),
        "RFC 7515 §5.2, RFC 8725 §3.8: every cluster's in-cluster issuer is https://kubernetes.default.svc.cluster.local; a token of another cluster carries the same iss (and kid) but its signature does not verify with this cluster's key.",
        |k| grant(&k.k8s_by(&k.other_cluster, |_, _| {}), &[("resource", MCP)]));
    let config = s.cfg(c);
    s.add("k8s-token-reused", config,
        "Kubernetes preset (single_use_jti off): the kubelet hands the same projected token to the pod until it rotates it, so the same token with two fresh proofs is accepted twice.",
        |k| { let t = k.agent(); vec![
            k.dpop(grant(&t, &[("resource", MCP)]), issued("tools:list", MCP)),
            k.dpop(grant(&t, &[("resource", MCP)]), issued("tools:list", MCP)),
        ]});
}

#[rustfmt::skip]
fn spiffe_vectors(s: &mut Suite) {
    let c = &["spire"];
    let svid = |path: &str| format!("spiffe://{TRUST_DOMAIN}{path}");
    s.one("spiffe-accepted-no-iss-no-kid", c, issued("tools:list tools:call", MCP).sub(&svid("/ns/payments/sa/agent")),
        "SPIFFE JWT-SVID §2-§3: an SVID as SPIRE issues it without jwt_issuer carries no iss and no kid; the trust domain of its SPIFFE ID (prod.example) selects the bundle whose JWT authority verifies it. The rule's subject pattern spiffe://prod.example/ns/payments/sa/* matches.",
        |k| grant(&k.svid(|_, _| {}), &[("resource", MCP)]));
    s.one("spiffe-with-kid", c, issued("tools:list tools:call", MCP),
        "SPIFFE JWT-SVID §2: with kid naming the bundle's authority the SVID verifies the same way.",
        |k| grant(&k.svid(|h, _| h["kid"] = json!("spire-1")), &[("resource", MCP)]));
    s.one("spiffe-typ-jose", c, issued("tools:list tools:call", MCP),
        "SPIFFE JWT-SVID §2 (typ JWT or JOSE), RFC 7515 §4.1.9: typ JOSE is accepted for SVIDs.",
        |k| grant(&k.svid(|h, _| h["typ"] = json!("JOSE")), &[("resource", MCP)]));
    s.one("spiffe-other-trust-domain", c, bad_grant(),
        "SPIFFE ID §2.1, RFC 7523 §3 item 1: an SVID of trust domain staging.example has no trusted bundle.",
        |k| grant(&k.svid(|_, c| c["sub"] = json!("spiffe://staging.example/ns/payments/sa/agent")), &[("resource", MCP)]));
    s.one("spiffe-suffix-trust-domain", c, bad_grant(),
        "SPIFFE ID §2.1: trust domains compare exactly; prod.example.attacker.com is not prod.example.",
        |k| grant(&k.svid(|_, c| c["sub"] = json!("spiffe://prod.example.attacker.com/ns/payments/sa/agent")), &[("resource", MCP)]));
    s.one("spiffe-path-other-namespace", c, bad_grant(),
        "Trust policy: spiffe://prod.example/ns/billing/sa/agent is in the trust domain but matches no rule's path.",
        |k| grant(&k.svid(|_, c| c["sub"] = json!(svid("/ns/billing/sa/agent"))), &[("resource", MCP)]));
    s.one("spiffe-path-deeper", c, bad_grant(),
        "Trust policy: * in a subject pattern is one path segment; .../sa/agent/extra is below the pattern and matches nothing.",
        |k| grant(&k.svid(|_, c| c["sub"] = json!(svid("/ns/payments/sa/agent/extra"))), &[("resource", MCP)]));
    s.one("spiffe-bad-id-dot-segment", c, bad_grant(),
        "SPIFFE ID §2.2: path segments . and .. are not allowed; .../sa/../../admin is no SPIFFE ID, so no trust domain selects a bundle.",
        |k| grant(&k.svid(|_, c| c["sub"] = json!(svid("/ns/payments/sa/../../admin"))), &[("resource", MCP)]));
    s.one("spiffe-bad-id-uppercase", c, bad_grant(),
        "SPIFFE ID §2.1: a trust domain is lowercase; spiffe://PROD.example/... is not a valid SPIFFE ID.",
        |k| grant(&k.svid(|_, c| c["sub"] = json!("spiffe://PROD.example/ns/payments/sa/agent")), &[("resource", MCP)]));
    s.one("spiffe-bad-id-no-path", c, bad_grant(),
        "SPIFFE ID §2.2: a workload's ID has a path; the bare trust domain spiffe://prod.example names no workload.",
        |k| grant(&k.svid(|_, c| c["sub"] = json!("spiffe://prod.example")), &[("resource", MCP)]));
    s.one("spiffe-missing-exp", c, bad_grant(),
        "SPIFFE JWT-SVID §3: exp is required.",
        |k| grant(&k.svid(|_, c| del(c, "exp")), &[("resource", MCP)]));
    s.one("spiffe-typ-dpop", c, bad_grant(),
        "RFC 8725 §3.11: an SVID-shaped JWT typed dpop+jwt is some other kind of token, not a workload identity.",
        |k| grant(&k.svid(|h, _| h["typ"] = json!("dpop+jwt")), &[("resource", MCP)]));
}

#[rustfmt::skip]
fn gha_vectors(s: &mut Suite) {
    let c = &["github"];
    s.one("gha-main-accepted", c, issued("tools:call", MCP).sub("repo:example-org/mcp-agent:ref:refs/heads/main").expires_in(120),
        "GitHub Actions OIDC: a token of example-org/mcp-agent on refs/heads/main matches the rule (repository and ref claims), which grants tools:call for 120 s.",
        |k| grant(&k.gha(|_, _| {}), &[("resource", MCP), ("scope", "tools:call")]));
    s.one("gha-other-repository", c, bad_grant(),
        "Trust policy: GitHub's issuer signs for every repository in the world; another repository of the same owner matches no rule.",
        |k| grant(&k.gha(|_, c| { c["repository"] = json!("example-org/other"); c["sub"] = json!("repo:example-org/other:ref:refs/heads/main"); }), &[("resource", MCP)]));
    s.one("gha-other-owner-same-name", c, bad_grant(),
        "Trust policy: a fork-like repository evil-org/mcp-agent with the same name matches no rule (the repository claim includes the owner).",
        |k| grant(&k.gha(|_, c| { c["repository"] = json!("evil-org/mcp-agent"); c["repository_owner"] = json!("evil-org"); c["sub"] = json!("repo:evil-org/mcp-agent:ref:refs/heads/main"); }), &[("resource", MCP)]));
    s.one("gha-other-ref", c, bad_grant(),
        "Trust policy: the rule names ref refs/heads/main; a feature branch of the same repository is refused.",
        |k| grant(&k.gha(|_, c| { c["ref"] = json!("refs/heads/feature"); c["sub"] = json!("repo:example-org/mcp-agent:ref:refs/heads/feature"); }), &[("resource", MCP)]));
    s.one("gha-pull-request", c, bad_grant(),
        "Trust policy: a pull_request run (ref refs/pull/17/merge) — code anyone can propose — is refused.",
        |k| grant(&k.gha(|_, c| { c["ref"] = json!("refs/pull/17/merge"); c["event_name"] = json!("pull_request"); c["sub"] = json!("repo:example-org/mcp-agent:pull_request"); }), &[("resource", MCP)]));
    s.one("gha-missing-jti", c, bad_grant(),
        "RFC 7523 §3 item 7: the issuer has single_use_jti on (GitHub tokens carry a jti and are meant for one exchange); a token without jti is refused.",
        |k| grant(&k.gha(|_, c| del(c, "jti")), &[("resource", MCP)]));
    s.one("gha-missing-repository", c, bad_grant(),
        "GitHub Actions preset: repository and repository_owner are required claims; a token without repository is refused before any rule is read.",
        |k| grant(&k.gha(|_, c| del(c, "repository")), &[("resource", MCP)]));
    let config = s.cfg(c);
    s.add("gha-replayed-jti", config,
        "RFC 7523 §3 item 7: with single_use_jti the same assertion is accepted once; presented again (with a fresh DPoP proof) its jti is a replay: invalid_grant.",
        |k| { let t = k.gha(|_, _| {}); vec![
            k.dpop(grant(&t, &[("resource", MCP)]), issued("tools:call", MCP)),
            k.dpop(grant(&t, &[("resource", MCP)]), bad_grant()),
        ]});
    let config = s.cfg(c);
    s.add("gha-refusal-burns-nothing", config,
        "RFC 7523 §3 item 7: a jti is recorded only once everything else passed, so a request refused for its scope (invalid_scope) does not use up the assertion; the corrected request is accepted.",
        |k| { let t = k.gha(|_, _| {}); vec![
            k.dpop(grant(&t, &[("resource", MCP), ("scope", "tools:list")]), refuse(400, "invalid_scope")),
            k.dpop(grant(&t, &[("resource", MCP), ("scope", "tools:call")]), issued("tools:call", MCP)),
        ]});
}

#[rustfmt::skip]
fn cloud_vectors(s: &mut Suite) {
    s.one("gcp-accepted", &["gcp"], issued("tools:list", MCP).sub("108729456810457238291"),
        "GCP: a Google-signed ID token of a service account (email, email_verified, numeric sub, azp, no jti) matches the rule on email and email_verified; the GCP preset does not require jti. Lifetime exactly 3600 s, as Google issues them.",
        |k| grant(&k.gcp(|_, _| {}), &[("resource", MCP)]));
    s.one("gcp-email-unverified", &["gcp"], bad_grant(),
        "Trust policy: the rule requires email_verified = true (a boolean claim).",
        |k| grant(&k.gcp(|_, c| c["email_verified"] = json!(false)), &[("resource", MCP)]));
    s.one("gcp-email-verified-as-string", &["gcp"], bad_grant(),
        "Trust policy: a boolean condition matches a JSON boolean only; email_verified \"true\" (a string) does not satisfy it.",
        |k| grant(&k.gcp(|_, c| c["email_verified"] = json!("true")), &[("resource", MCP)]));
    s.one("gcp-other-email", &["gcp"], bad_grant(),
        "Trust policy: accounts.google.com signs for every Google account; another service account's token matches no rule.",
        |k| grant(&k.gcp(|_, c| { c["email"] = json!("intruder@other-project.iam.gserviceaccount.com"); c["sub"] = json!("100000000000000000001"); }), &[("resource", MCP)]));
    s.one("aws-accepted", &["aws"], issued("tools:list tools:call", MCP).sub("arn:aws:iam::123456789012:role/mcp-agent"),
        "AWS: an STS outbound web identity token (ES384; sub = the role ARN; the account under the https://sts.amazonaws.com/ claim) matches the rule on subject and the claim path https://sts.amazonaws.com/.aws_account (a member name holding dots).",
        |k| grant(&k.aws(|_, _| {}), &[("resource", MCP)]));
    s.one("aws-other-role", &["aws"], bad_grant(),
        "Trust policy: another role of the same account matches no rule.",
        |k| grant(&k.aws(|_, c| { c["sub"] = json!("arn:aws:iam::123456789012:role/admin"); c["https://sts.amazonaws.com/"]["principal_id"] = json!("arn:aws:iam::123456789012:role/admin"); }), &[("resource", MCP)]));
    s.one("aws-other-account", &["aws"], bad_grant(),
        "Trust policy: the same role ARN's account under the AWS claim must be 123456789012; another account matches no rule.",
        |k| grant(&k.aws(|_, c| c["https://sts.amazonaws.com/"]["aws_account"] = json!("999999999999")), &[("resource", MCP)]));
    s.one("azure-accepted", &["azure"], issued("invoices:read", BILLING).sub(AZURE_OID),
        "Azure: a Microsoft Entra v2.0 token of a managed identity (tid, oid, sub = oid; 75 minutes, under the issuer's 5400 s maximum) matches the rule on tid and oid, which grants the billing resource.",
        |k| grant(&k.azure(|_, _| {}), &[("resource", BILLING)]));
    s.one("azure-other-object", &["azure"], bad_grant(),
        "Trust policy: another identity (oid) of the same tenant matches no rule.",
        |k| grant(&k.azure(|_, c| { c["oid"] = json!("00000000-1111-2222-3333-444444444444"); c["sub"] = json!("00000000-1111-2222-3333-444444444444"); }), &[("resource", BILLING)]));
    s.one("azure-other-tenant", &["azure"], bad_grant(),
        "RFC 7523 §3 item 1: Entra's issuer is per tenant; a token of another tenant (its own iss) is from no trusted issuer.",
        |k| grant(&k.azure(|_, c| { c["iss"] = json!("https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0"); c["tid"] = json!("f8cdef31-a31e-4b4a-93e4-5f571e91255a"); }), &[("resource", BILLING)]));
}

#[rustfmt::skip]
fn attack_vectors(s: &mut Suite) {
    let c = &["cluster"];
    s.one("attack-untrusted-issuer", c, bad_grant(),
        "RFC 7523 §3 item 1: a token from an issuer nobody configured (signed by its own key) is refused.",
        |k| { let mut claims = agent_claims(k); claims["iss"] = json!("https://attacker.example");
              grant(&jws(&k.attacker, &json!({"alg": "ES256", "kid": "k8s-2025"}), &claims), &[("resource", MCP)]) });
    s.one("attack-alg-none", c, bad_grant(),
        "RFC 8725 §2.1, §3.1, RFC 7518 §3.6: an unsecured JWS (alg none, empty signature) with a trusted issuer's claims is never accepted.",
        |k| grant(&unsecured(json!({"kid": "k8s-2025"}), &agent_claims(k), "none"), &[("resource", MCP)]));
    s.one("attack-alg-none-capitalized", c, bad_grant(),
        "RFC 8725 §3.1, RFC 7515 §4.1.1: alg is case-sensitive; None is no algorithm at all.",
        |k| grant(&unsecured(json!({"kid": "k8s-2025"}), &agent_claims(k), "None"), &[("resource", MCP)]));
    s.one("attack-hs256-public-key-secret", c, bad_grant(),
        "RFC 8725 §2.1, §3.1 (key confusion): an HS256 JWS whose HMAC secret is the issuer's published public JWK text must not verify; symmetric algorithms are never allowed for workload tokens.",
        |k| { let secret = public(&k.cluster).to_string();
              let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
              let header = json!({"alg": "HS256", "kid": "k8s-2025"}).to_string();
              let token = assemble(&header, &agent_claims(k).to_string(), |input| hmac::sign(&key, input).as_ref().to_vec());
              grant(&token, &[("resource", MCP)]) });
    let both = &["cluster", "github"];
    s.one("attack-other-issuer-key", both, bad_grant(),
        "RFC 8725 §3.8: the keys must belong to the token's issuer. A token claiming the cluster's iss, signed by GitHub's (also trusted) key and naming its kid gh-1, is refused: only the cluster's keys are tried.",
        |k| grant(&jws(&k.github, &json!({"alg": "RS256", "kid": "gh-1"}), &agent_claims(k)), &[("resource", MCP)]));
    s.one("attack-other-issuer-key-no-kid", both, bad_grant(),
        "RFC 8725 §3.8: the same without kid: the cluster's keys are the only candidates, and none verifies GitHub's signature.",
        |k| grant(&jws(&k.github, &json!({"alg": "RS256"}), &agent_claims(k)), &[("resource", MCP)]));
    s.one("attack-rs256-for-es256-issuer", &["ci", "cluster"], bad_grant(),
        "RFC 8725 §3.1: the CI issuer is configured for ES256 only; an RS256 token claiming its iss (signed by another trusted issuer's RSA key) is refused on the algorithm.",
        |k| { let claims = json!({"iss": CI_ISS, "sub": "ci-runner", "aud": WARDEN, "iat": NOW - 30, "exp": NOW + 570});
              grant(&jws(&k.cluster, &json!({"alg": "RS256", "kid": "ci-1"}), &claims), &[("resource", MCP)]) });
    s.one("attack-forged-signature", &["ci"], bad_grant(),
        "RFC 7515 §5.2: a token with the CI issuer's iss and kid, signed by an attacker's ES256 key, does not verify.",
        |k| { let claims = json!({"iss": CI_ISS, "sub": "ci-runner", "aud": WARDEN, "iat": NOW - 30, "exp": NOW + 570});
              grant(&jws(&k.attacker, &json!({"alg": "ES256", "kid": "ci-1"}), &claims), &[("resource", MCP)]) });
    s.one("attack-typ-at-jwt", c, bad_grant(),
        "RFC 8725 §3.11, RFC 9068 §2.1: a JWT typed at+jwt is an access token, not a workload identity, even when the cluster's key signed it.",
        |k| grant(&k.k8s(|h, _| h["typ"] = json!("at+jwt")), &[("resource", MCP)]));
    s.one("attack-proof-as-assertion", c, bad_grant(),
        "RFC 8725 §3.11: a DPoP proof (typ dpop+jwt, no iss) sent as the assertion is not a workload token.",
        |k| grant(&k.proof(), &[("resource", MCP)]));
    s.one("attack-iss-wrong-type", c, bad_grant(),
        "RFC 7519 §4.1.1: iss is a string; an array holding the trusted issuer is refused.",
        |k| grant(&k.k8s(|_, c| c["iss"] = json!([K8S_ISS])), &[("resource", MCP)]));
}

#[rustfmt::skip]
fn scope_vectors(s: &mut Suite) {
    let c = &["cluster"];
    s.one("scope-partial", c, issued("tools:call", MCP),
        "RFC 6749 §3.3: the issuer may grant less than requested and says so in scope (§5.1); of tools:call admin:all resources:read only tools:call is granted.",
        |k| grant(&k.agent(), &[("resource", MCP), ("scope", "tools:call admin:all resources:read")]));
    s.one("scope-none-left", c, refuse(400, "invalid_scope"),
        "RFC 6749 §5.2: when none of the requested scopes is granted the answer is invalid_scope, not an empty token.",
        |k| grant(&k.agent(), &[("resource", MCP), ("scope", "admin:all resources:read")]));
    s.one("scope-default", c, issued("tools:list", MCP),
        "RFC 6749 §3.3: without scope the rule's default set (tools:list) is granted, not everything it could grant.",
        |k| grant(&k.agent(), &[("resource", MCP)]));
    s.one("scope-empty-value", c, issued("tools:list", MCP),
        "RFC 6749 §3.2: a parameter sent without a value is treated as omitted; scope= gets the default set.",
        |k| grant(&k.agent(), &[("resource", MCP), ("scope", "")]));
    s.one("scope-malformed", c, refuse(400, "invalid_scope"),
        "RFC 6749 §3.3: a scope token is printable ASCII without \" or \\; tools:\"list\" is malformed.",
        |k| grant(&k.agent(), &[("resource", MCP), ("scope", "tools:\"list\"")]));
}

#[rustfmt::skip]
fn resource_vectors(s: &mut Suite) {
    let c = &["cluster"];
    s.one("resource-unknown", c, refuse(400, "invalid_target"),
        "RFC 8707 §2: a resource the issuer does not know is invalid_target.",
        |k| grant(&k.agent(), &[("resource", "https://unknown.example.com/mcp")]));
    s.one("resource-not-granted", c, refuse(400, "invalid_target"),
        "RFC 8707 §2: the billing resource exists, but no rule matching the workload grants it: invalid_target.",
        |k| grant(&k.agent(), &[("resource", BILLING)]));
    s.one("resource-implied", c, issued("tools:list", MCP),
        "RFC 8707 §2 leaves a request without resource to policy: the workload's rules grant exactly one resource, which becomes the audience.",
        |k| grant(&k.agent(), &[]));
    s.one("resource-two", c, refuse(400, "invalid_target"),
        "RFC 8707 §2: two resources would need a token with two audiences; this issuer issues one audience per token and refuses.",
        |k| grant(&k.agent(), &[("resource", MCP), ("resource", BILLING)]));
    s.one("resource-not-absolute", c, refuse(400, "invalid_target"),
        "RFC 8707 §2: a resource is an absolute URI; the bare name tools is not.",
        |k| grant(&k.agent(), &[("resource", "tools")]));
    s.one("resource-with-fragment", c, refuse(400, "invalid_target"),
        "RFC 8707 §2: a resource URI must not include a fragment.",
        |k| grant(&k.agent(), &[("resource", "https://mcp.example.com/mcp#tools")]));
}

#[rustfmt::skip]
fn dpop_vectors(s: &mut Suite) {
    let c = &["cluster"];
    let config = s.cfg(c);
    s.add("dpop-missing-proof", config,
        "RFC 9449 §5: the rule does not allow Bearer tokens, so a request without a DPoP proof is refused with invalid_dpop_proof.",
        |k| vec![request(grant(&k.agent(), &[("resource", MCP)]), &[], bad_proof())]);
    s.with_proof("dpop-wrong-htu", c, bad_proof(),
        "RFC 9449 §4.3 step 9, §5: the proof's htu must be the token endpoint; a proof made for the MCP resource is refused.",
        |k| (grant(&k.agent(), &[("resource", MCP)]), k.proof_with(|_, c| c["htu"] = json!(MCP))));
    s.with_proof("dpop-wrong-htm", c, bad_proof(),
        "RFC 9449 §4.3 step 8: the token request is a POST; a proof with htm GET is refused.",
        |k| (grant(&k.agent(), &[("resource", MCP)]), k.proof_with(|_, c| c["htm"] = json!("GET"))));
    s.with_proof("dpop-stale", c, bad_proof(),
        "RFC 9449 §4.3 step 11, §11.1: a proof whose iat is 301 s old is outside the 300 s window.",
        |k| (grant(&k.agent(), &[("resource", MCP)]), k.proof_with(|_, c| c["iat"] = json!(NOW - 301))));
    s.with_proof("dpop-bad-signature", c, bad_proof(),
        "RFC 9449 §4.3 step 6: a proof carrying the client's jwk but signed by another key does not verify.",
        |k| { let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": Value::Object(k.client.public_jwk().public_members())});
              let claims = json!({"jti": format!("proof-{}", k.jti()), "htm": "POST", "htu": TOKEN_ENDPOINT, "iat": NOW});
              (grant(&k.agent(), &[("resource", MCP)]), jws(&k.attacker, &header, &claims)) });
    s.with_proof("dpop-typ-jwt", c, bad_proof(),
        "RFC 9449 §4.3 step 4: a proof's typ is dpop+jwt; typ JWT is refused.",
        |k| (grant(&k.agent(), &[("resource", MCP)]), k.proof_with(|h, _| h["typ"] = json!("JWT"))));
    let config = s.cfg(c);
    s.add("dpop-replayed-proof", config,
        "RFC 9449 §11.1: the same proof (same jti) sent twice: the first request is accepted, the replay refused.",
        |k| { let p = k.proof(); let t = k.agent(); vec![
            request(grant(&t, &[("resource", MCP)]), &[("dpop", &p)], issued("tools:list", MCP)),
            request(grant(&t, &[("resource", MCP)]), &[("dpop", &p)], bad_proof()),
        ]});
    let config = s.cfg(c);
    s.add("dpop-two-proofs", config,
        "RFC 9449 §4.3 step 1: a request with two DPoP header fields is refused.",
        |k| { let t = k.agent(); vec![
            request(grant(&t, &[("resource", MCP)]), &[("dpop", &k.proof()), ("dpop", &k.proof())], bad_proof()),
        ]});
    let mut config = s.cfg(c);
    config.nonce = Some(NONCE);
    s.add("dpop-nonce-required", config,
        "RFC 9449 §8: the server requires a nonce; a proof without one gets use_dpop_nonce (400, RFC 9449 §8 and §12.2), and the retry whose proof carries the nonce is accepted.",
        |k| { let t = k.agent(); vec![
            k.dpop(grant(&t, &[("resource", MCP)]), refuse(400, "use_dpop_nonce")),
            request(grant(&t, &[("resource", MCP)]), &[("dpop", &k.proof_with(|_, c| c["nonce"] = json!(NONCE)))], issued("tools:list", MCP)),
        ]});
    let mut config = s.cfg(c);
    config.nonce = Some(NONCE);
    s.add("dpop-nonce-wrong", config,
        "RFC 9449 §8, §4.3 step 10: a proof with another nonce value also gets use_dpop_nonce.",
        |k| vec![request(grant(&k.agent(), &[("resource", MCP)]), &[("dpop", &k.proof_with(|_, c| c["nonce"] = json!("stale-nonce")))], refuse(400, "use_dpop_nonce"))]);
    let config = s.cfg(&["ci"]);
    s.add("dpop-bearer-allowed", config,
        "RFC 9449 §5, RFC 6750: the rule allows Bearer tokens, so a request without a proof gets an unbound token with token_type Bearer and no cnf.",
        |k| vec![request(grant(&k.ci(|_, _| {}), &[("resource", MCP)]), &[], issued("tools:list", MCP).bearer().sub("ci-runner"))]);
    s.one("dpop-bearer-rule-with-proof", &["ci"], issued("tools:list", MCP),
        "RFC 9449 §5: a rule that allows Bearer tokens still binds the token when the request carries a valid proof.",
        |k| grant(&k.ci(|_, _| {}), &[("resource", MCP)]));
    s.with_proof("dpop-bearer-rule-bad-proof", &["ci"], bad_proof(),
        "RFC 9449 §5: an invalid proof (here for the wrong htu) is refused even where Bearer tokens are allowed; it never downgrades to an unbound token.",
        |k| (grant(&k.ci(|_, _| {}), &[("resource", MCP)]), k.proof_with(|_, c| c["htu"] = json!(MCP))));
}

#[rustfmt::skip]
fn exchange_vectors(s: &mut Suite) {
    let c = &["cluster"];
    let access = json!(ACCESS_TOKEN_TYPE);
    s.one("tx-accepted", c, issued("tools:call", MCP).sub(AGENT).act(Value::Null).issued_token_type(access.clone()),
        "RFC 8693 §2.1: a token exchange of the workload's JWT (subject_token_type jwt) without actor_token gives an access token with no act claim; issued_token_type is required in the answer (§2.2.1).",
        |k| exchange(&k.agent(), &[("resource", MCP), ("scope", "tools:call")]));
    s.one("tx-id-token-type", c, issued("tools:list", MCP).issued_token_type(access.clone()),
        "RFC 8693 §3: subject_token_type id_token is accepted for an OIDC-shaped workload token.",
        |k| { let mut form = exchange(&k.agent(), &[("resource", MCP)]); form[2].1 = ID_TOKEN_TYPE.into(); form });
    s.one("tx-audience-name", c, issued("tools:list", MCP),
        "RFC 8693 §2.1: audience names the target by a logical name; audience tools is the resource https://mcp.example.com/mcp, which becomes aud.",
        |k| exchange(&k.agent(), &[("audience", "tools")]));
    s.one("tx-audience-unknown", c, refuse(400, "invalid_target"),
        "RFC 8693 §2.2.2: an audience the issuer does not know is invalid_target.",
        |k| exchange(&k.agent(), &[("audience", "payroll")]));
    s.one("tx-requested-access-token", c, issued("tools:list", MCP).issued_token_type(access.clone()),
        "RFC 8693 §2.1: requested_token_type access_token is what this issuer issues.",
        |k| exchange(&k.agent(), &[("resource", MCP), ("requested_token_type", ACCESS_TOKEN_TYPE)]));
    s.one("tx-requested-refresh-token", c, bad_request(),
        "RFC 8693 §2.1, §2.2.2: requested_token_type refresh_token is not something this issuer issues: invalid_request.",
        |k| exchange(&k.agent(), &[("resource", MCP), ("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")]));
    s.one("tx-unsupported-subject-type", c, bad_request(),
        "RFC 8693 §2.1, §2.2.2: subject_token_type saml2 is not a type this issuer reads: invalid_request.",
        |k| { let mut form = exchange(&k.agent(), &[("resource", MCP)]); form[2].1 = "urn:ietf:params:oauth:token-type:saml2".into(); form });
    s.one("tx-missing-subject-type", c, bad_request(),
        "RFC 8693 §2.1: subject_token_type is required with subject_token.",
        |k| { let mut form = exchange(&k.agent(), &[("resource", MCP)]); form.remove(2); form });
    s.one("tx-invalid-subject-token", c, bad_request(),
        "RFC 8693 §2.2.2: an invalid subject_token (here expired) is answered invalid_request, not invalid_grant.",
        |k| exchange(&k.k8s(|_, c| { c["iat"] = json!(NOW - 7200); c["nbf"] = json!(NOW - 7200); c["exp"] = json!(NOW - 3600); }), &[("resource", MCP)]));
    s.one("tx-subject-no-rule", c, bad_request(),
        "RFC 8693 §2.2.2 (\"unacceptable based on policy\"): a valid subject token no rule matches is invalid_request.",
        |k| exchange(&k.k8s(|_, c| c["kubernetes.io"]["namespace"] = json!("billing")), &[("resource", MCP)]));
    let both = &["cluster", "ci"];
    s.one("tx-with-actor", both, issued("tools:list", MCP).sub(AGENT).act(json!({"iss": CI_ISS, "sub": "ci-runner"})).issued_token_type(access),
        "RFC 8693 §2.1, §4.1: with an actor_token (the CI runner's JWT) the issued token's sub stays the subject and act names the actor (iss and sub).",
        |k| exchange(&k.agent(), &[("resource", MCP), ("actor_token", &k.ci(|_, _| {})), ("actor_token_type", JWT_TYPE)]));
    s.one("tx-actor-without-type", both, bad_request(),
        "RFC 8693 §2.1: actor_token_type is REQUIRED when actor_token is present: invalid_request.",
        |k| exchange(&k.agent(), &[("resource", MCP), ("actor_token", &k.ci(|_, _| {}))]));
    s.one("tx-actor-type-without-token", both, bad_request(),
        "RFC 8693 §2.1: actor_token_type MUST NOT be included without actor_token.",
        |k| exchange(&k.agent(), &[("resource", MCP), ("actor_token_type", JWT_TYPE)]));
    s.one("tx-actor-expired", both, bad_request(),
        "RFC 8693 §2.2.2: an invalid actor_token (expired) makes the request invalid_request.",
        |k| exchange(&k.agent(), &[("resource", MCP), ("actor_token", &k.ci(|_, c| { c["iat"] = json!(NOW - 1200); c["exp"] = json!(NOW - 600); })), ("actor_token_type", JWT_TYPE)]));
    s.one("tx-actor-untrusted", both, bad_request(),
        "RFC 8693 §2.2.2: an actor_token from an untrusted issuer is invalid_request; an actor is verified like a subject.",
        |k| { let claims = json!({"iss": "https://attacker.example", "sub": "ci-runner", "aud": WARDEN, "iat": NOW - 30, "exp": NOW + 570});
              exchange(&k.agent(), &[("resource", MCP), ("actor_token", &jws(&k.attacker, &json!({"alg": "ES256"}), &claims)), ("actor_token_type", JWT_TYPE)]) });
    s.one("tx-grant-type-not-allowed", &["github"], refuse(400, "unauthorized_client"),
        "RFC 6749 §5.2: the GitHub rule allows only the jwt-bearer grant; the same workload asking by token exchange is unauthorized_client.",
        |k| exchange(&k.gha(|_, _| {}), &[("resource", MCP)]));
}

#[rustfmt::skip]
fn client_credentials_vectors(s: &mut Suite) {
    let c = &["cluster"];
    s.one("cc-accepted", c, issued("tools:call", MCP).sub(AGENT),
        "RFC 6749 §4.4 with RFC 7523 §2.2: client_credentials where the client authenticates with its workload token as a federated client_assertion (the Entra / Keycloak pattern).",
        |k| client_credentials(&k.agent(), &[("resource", MCP), ("scope", "tools:call")]));
    s.one("cc-wrong-assertion-type", c, refuse(400, "invalid_client"),
        "RFC 7521 §4.2, RFC 7523 §2.2: client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer; a SAML type is a client authentication failure: invalid_client (400, the client did not use the Authorization header, RFC 6749 §5.2).",
        |k| { let mut form = client_credentials(&k.agent(), &[("resource", MCP)]); form[1].1 = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".into(); form });
    s.one("cc-missing-assertion-type", c, bad_request(),
        "RFC 7521 §4.2: client_assertion_type is required with client_assertion; without it the request is malformed.",
        |k| { let mut form = client_credentials(&k.agent(), &[("resource", MCP)]); form.remove(1); form });
    s.one("cc-expired-assertion", c, refuse(400, "invalid_client"),
        "RFC 7523 §3.2: an invalid client assertion (expired) is invalid_client.",
        |k| client_credentials(&k.k8s(|_, c| c["exp"] = json!(NOW - 600)), &[("resource", MCP)]));
    s.one("cc-no-rule", c, refuse(400, "unauthorized_client"),
        "RFC 6749 §5.2: an authenticated client (valid workload token) that no rule allows is unauthorized_client.",
        |k| client_credentials(&k.k8s(|_, c| c["kubernetes.io"]["namespace"] = json!("billing")), &[("resource", MCP)]));
}

#[rustfmt::skip]
fn request_vectors(s: &mut Suite) {
    let c = &["cluster"];
    s.one("req-unsupported-grant-type", c, refuse(400, "unsupported_grant_type"),
        "RFC 6749 §5.2: grant_type password is not served.",
        |k| { let mut form = grant(&k.agent(), &[("resource", MCP)]); form[0].1 = "password".into(); form });
    s.one("req-missing-grant-type", c, bad_request(),
        "RFC 6749 §4.4.2, §5.2: grant_type is required.",
        |k| { let mut form = grant(&k.agent(), &[("resource", MCP)]); form.remove(0); form });
    s.one("req-missing-assertion", c, bad_request(),
        "RFC 7523 §2.1: the jwt-bearer grant needs assertion.",
        |_| pairs(&[("grant_type", JWT_BEARER), ("resource", MCP)]));
    s.one("req-repeated-assertion", c, bad_request(),
        "RFC 6749 §3.2: request parameters MUST NOT be included more than once; two assertion fields are invalid_request (RFC 7523 §2.1: exactly one JWT).",
        |k| { let t = k.agent(); grant(&t, &[("assertion", &t), ("resource", MCP)]) });
    s.one("req-repeated-grant-type", c, bad_request(),
        "RFC 6749 §3.2: a repeated grant_type is invalid_request, even with the same value.",
        |k| grant(&k.agent(), &[("grant_type", JWT_BEARER), ("resource", MCP)]));
    s.one("req-client-secret", c, refuse(400, "invalid_client"),
        "RFC 6749 §2.3.1, §5.2: this issuer takes no client secrets; client_secret in the body is a client authentication it does not accept.",
        |k| grant(&k.agent(), &[("resource", MCP), ("client_id", "agent"), ("client_secret", "s3cret")]));
    s.one("req-client-assertion-with-assertion", c, refuse(400, "invalid_client"),
        "RFC 7523 §2.1-2.2: with the jwt-bearer grant the assertion identifies the workload; a second credential as client_assertion is refused.",
        |k| { let t = k.agent(); grant(&t, &[("resource", MCP), ("client_assertion_type", CLIENT_ASSERTION), ("client_assertion", &t)]) });
    let config = s.cfg(c);
    s.add("req-authorization-header", config,
        "RFC 6749 §5.2: a client that authenticated with the Authorization header (Basic) is answered 401 invalid_client.",
        |k| vec![request(grant(&k.agent(), &[("resource", MCP)]), &[("dpop", &k.proof()), ("authorization", "Basic YWdlbnQ6czNjcmV0")], refuse(401, "invalid_client"))]);
    let config = s.cfg(c);
    s.add("req-content-type-json", config,
        "RFC 6749 §3.2, §4.4.2: the token request is application/x-www-form-urlencoded; another Content-Type is invalid_request.",
        |k| vec![request(grant(&k.agent(), &[("resource", MCP)]), &[("dpop", &k.proof()), ("content-type", "application/json")], bad_request())]);
    let config = s.cfg(c);
    s.add("req-content-type-charset", config,
        "RFC 9110 §8.3.1: the media type is case-insensitive and may carry parameters; Application/X-WWW-Form-Urlencoded; charset=UTF-8 is a form.",
        |k| vec![request(grant(&k.agent(), &[("resource", MCP)]), &[("dpop", &k.proof()), ("content-type", "Application/X-WWW-Form-Urlencoded; charset=UTF-8")], issued("tools:list", MCP))]);
    s.one("req-unknown-parameter-ignored", c, issued("tools:list", MCP),
        "RFC 6749 §3.2: unrecognized request parameters are ignored.",
        |k| grant(&k.agent(), &[("resource", MCP), ("x-trace", "abc")]));
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_OUT.into());
    let mut suite = Suite {
        k: Ctx::load(),
        vectors: Vec::new(),
    };
    let groups = [
        k8s_vectors,
        spiffe_vectors,
        gha_vectors,
        cloud_vectors,
        attack_vectors,
        scope_vectors,
        resource_vectors,
        dpop_vectors,
        exchange_vectors,
        client_credentials_vectors,
        request_vectors,
    ];
    for group in groups {
        group(&mut suite);
    }
    let count = suite.vectors.len();
    let description = format!(
        "Generated by examples/generate_workload_vectors.rs (cargo run --example \
         generate_workload_vectors); do not edit by hand. {count} vectors for a token endpoint \
         that exchanges workload identity tokens (Kubernetes, SPIFFE, GitHub Actions, GCP, AWS, \
         Azure) for DPoP-bound access tokens, each with a fresh endpoint and the clock at {NOW}: \
         MCP SEP-1933, RFC 7523, RFC 8693, RFC 8707, RFC 9449 §5 and §8, RFC 8725, and the \
         error codes of RFC 6749 §5.2. Keys are fixed; ECDSA signatures change on regeneration."
    );
    let mut per_prefix: Vec<(&str, usize)> = Vec::new();
    for vector in &suite.vectors {
        let prefix = vector.id.split('-').next().unwrap();
        match per_prefix.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, n)) => *n += 1,
            None => per_prefix.push((prefix, 1)),
        }
    }
    let summary: Vec<String> = per_prefix.iter().map(|(p, n)| format!("{p} {n}")).collect();
    let file = VectorFile {
        format: "workload-vectors/1",
        description,
        vectors: suite.vectors,
    };
    let text = serde_json::to_string_pretty(&file).unwrap() + "\n";
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
    println!("wrote {count} vectors to {out} ({})", summary.join(", "));
}
